package dataset

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// AzureTimeLayout is the time format of every Azure PdM table: whole hours,
// no zone (read as UTC).
const AzureTimeLayout = "2006-01-02 15:04:05"

// The file names of the Azure PdM tables inside their folder. Telemetry is
// read from AzureTelemetryFile when present, else from the subset shipped in
// shared/datasets.
const (
	AzureMachinesFile        = "PdM_machines.csv"
	AzureTelemetryFile       = "PdM_telemetry.csv"
	AzureTelemetrySubsetFile = "PdM_telemetry_subset.csv"
	AzureErrorsFile          = "PdM_errors.csv"
	AzureMaintenanceFile     = "PdM_maint.csv"
	AzureFailuresFile        = "PdM_failures.csv"
)

// AzurePdMDir is the azure-pdm folder inside Dir.
func AzurePdMDir() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "azure-pdm"), nil
}

// AzureMachine is one row of PdM_machines.csv.
type AzureMachine struct {
	ID    int
	Model string // "model1" … "model4"
	Age   int    // years
}

// AzureTelemetry is one hourly row of PdM_telemetry.csv: the machine's
// average voltage, rotation, pressure and vibration over the hour.
type AzureTelemetry struct {
	Time      time.Time
	Machine   int
	Volt      float64
	Rotate    float64
	Pressure  float64
	Vibration float64
}

// AzureEvent is one row of the error, maintenance or failure table: what
// happened to which machine when. Kind is the errorID ("error1" …) for
// errors and the component ("comp1" … "comp4") for maintenance and failures.
type AzureEvent struct {
	Time    time.Time
	Machine int
	Kind    string
}

// AzurePdM holds the five tables of the Microsoft Azure predictive
// maintenance sample, each in file order.
//
// Failures are the label. Maintenance holds the repairs that follow
// failures at the same machine, component and hour, so it may only be used
// strictly before the time being predicted (see the SOURCE.md of the data).
type AzurePdM struct {
	Machines    []AzureMachine
	Telemetry   []AzureTelemetry
	Errors      []AzureEvent
	Maintenance []AzureEvent
	Failures    []AzureEvent
}

// Machine returns the machine with id, or false.
func (d *AzurePdM) Machine(id int) (AzureMachine, bool) {
	for _, m := range d.Machines {
		if m.ID == id {
			return m, true
		}
	}
	return AzureMachine{}, false
}

// LoadAzurePdM reads the five tables from dir (for example AzurePdMDir()).
func LoadAzurePdM(dir string) (*AzurePdM, error) {
	var d AzurePdM
	var err error
	if d.Machines, err = azureLoad(dir, AzureMachinesFile, ReadAzureMachines); err != nil {
		return nil, err
	}
	tel := AzureTelemetryFile
	if _, err := os.Stat(filepath.Join(dir, tel)); err != nil {
		tel = AzureTelemetrySubsetFile
	}
	if d.Telemetry, err = azureLoad(dir, tel, ReadAzureTelemetry); err != nil {
		return nil, err
	}
	events := func(column string) func(io.Reader) ([]AzureEvent, error) {
		return func(r io.Reader) ([]AzureEvent, error) { return ReadAzureEvents(r, column) }
	}
	if d.Errors, err = azureLoad(dir, AzureErrorsFile, events("errorID")); err != nil {
		return nil, err
	}
	if d.Maintenance, err = azureLoad(dir, AzureMaintenanceFile, events("comp")); err != nil {
		return nil, err
	}
	if d.Failures, err = azureLoad(dir, AzureFailuresFile, events("failure")); err != nil {
		return nil, err
	}
	return &d, nil
}

func azureLoad[T any](dir, name string, read func(io.Reader) ([]T, error)) ([]T, error) {
	return loadFile(filepath.Join(dir, name), func(r io.Reader) ([]T, error) {
		v, err := read(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return v, nil
	})
}

// ReadAzureMachines parses PdM_machines.csv (machineID,model,age).
func ReadAzureMachines(r io.Reader) ([]AzureMachine, error) {
	var out []AzureMachine
	err := azureRows(r, []string{"machineID", "model", "age"}, func(rec []string) error {
		id, err := strconv.Atoi(rec[0])
		if err != nil {
			return err
		}
		age, err := strconv.Atoi(rec[2])
		if err != nil {
			return err
		}
		out = append(out, AzureMachine{ID: id, Model: rec[1], Age: age})
		return nil
	})
	return out, err
}

// ReadAzureTelemetry parses PdM_telemetry.csv
// (datetime,machineID,volt,rotate,pressure,vibration).
func ReadAzureTelemetry(r io.Reader) ([]AzureTelemetry, error) {
	var out []AzureTelemetry
	err := azureRows(r, []string{"datetime", "machineID", "volt", "rotate", "pressure", "vibration"}, func(rec []string) error {
		t, id, err := azureTimeMachine(rec)
		if err != nil {
			return err
		}
		var v [4]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(rec[2+i], 64); err != nil {
				return err
			}
		}
		out = append(out, AzureTelemetry{Time: t, Machine: id, Volt: v[0], Rotate: v[1], Pressure: v[2], Vibration: v[3]})
		return nil
	})
	return out, err
}

// ReadAzureEvents parses an event table whose header is
// datetime,machineID,<column>: PdM_errors.csv (errorID), PdM_maint.csv
// (comp) or PdM_failures.csv (failure).
func ReadAzureEvents(r io.Reader, column string) ([]AzureEvent, error) {
	var out []AzureEvent
	err := azureRows(r, []string{"datetime", "machineID", column}, func(rec []string) error {
		t, id, err := azureTimeMachine(rec)
		if err != nil {
			return err
		}
		if rec[2] == "" {
			return fmt.Errorf("empty %s", column)
		}
		out = append(out, AzureEvent{Time: t, Machine: id, Kind: rec[2]})
		return nil
	})
	return out, err
}

// azureRows checks the header and calls row for each record, wrapping its
// errors with the line number.
// azureTimeMachine parses the datetime and machineID that lead a
// telemetry or event record.
func azureTimeMachine(rec []string) (time.Time, int, error) {
	t, err := time.Parse(AzureTimeLayout, rec[0])
	if err != nil {
		return time.Time{}, 0, err
	}
	id, err := strconv.Atoi(rec[1])
	if err != nil {
		return time.Time{}, 0, err
	}
	return t, id, nil
}

func azureRows(r io.Reader, header []string, row func([]string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(header)
	cr.ReuseRecord = true
	h, err := cr.Read()
	if err != nil {
		return fmt.Errorf("dataset: azure header: %w", err)
	}
	if !slices.Equal(h, header) {
		return fmt.Errorf("dataset: azure header %q, want %q", h, header)
	}
	return eachRecord(cr, "azure", row)
}
