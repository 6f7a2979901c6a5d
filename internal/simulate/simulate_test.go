package simulate_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// server is the real API (catalogue and readings) on a throwaway database.
type server struct {
	db     *store.DB
	tenant string
	key    string
	url    string
	// refuse answers the next readings POSTs with these statuses first.
	refuse chan int
}

func startAPI(t *testing.T, maxReadings int) *server {
	t.Helper()
	ctx := context.Background()
	db, _ := testenv.DB(t)
	s := &server{db: db, tenant: testenv.Tenant(t, db, "sim"), refuse: make(chan int, 8)}
	key, prefix, hash := apikey.Generate()
	if _, err := db.CreateAPIKey(ctx, s.tenant, "simulator", prefix, hash, []apikey.Scope{apikey.Admin}, nil); err != nil {
		t.Fatal(err)
	}
	s.key = key
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	catalog := ingest.NewCatalog(db, log)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); catalog.Listen(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	batcher := ingest.NewBatcher(db, ingest.Options{Logger: log})
	t.Cleanup(batcher.Close)
	routes := []api.Routes{
		&api.Catalog{DB: db}, &api.Technicians{Store: &maintenance.Store{DB: db}}, &api.WorkOrders{DB: db, Store: &maintenance.Store{DB: db}},
		&api.Readings{DB: db, Batcher: batcher, MaxBodyBytes: 8 << 20, MaxReadings: maxReadings,
			Validator: &ingest.Validator{Catalog: catalog, MaxSkew: 5 * time.Minute, Retention: 720 * time.Hour}},
	}
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, routes, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/readings" {
			select {
			case code := <-s.refuse:
				w.Header().Set("Retry-After", "0")
				api.WriteError(w, r, code, "busy", "try again", nil)
				return
			default:
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func TestSimulatorAgainstAPI(t *testing.T) {
	srv := startAPI(t, 10000)
	srv.refuse <- http.StatusTooManyRequests
	srv.refuse <- http.StatusServiceUnavailable
	ctx := context.Background()
	start := time.Now()
	sim, err := simulate.New(simulate.Options{
		BaseURL: srv.url, APIKey: srv.key,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Assets: 3, Speedup: 6000, Batch: 200, Duration: 2500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	t.Logf("stats: %+v", st)

	if st.AssetsCreated != 3 || st.SensorsCreated != 15 {
		t.Errorf("created %d assets and %d sensors, want 3 and 15", st.AssetsCreated, st.SensorsCreated)
	}
	assets, err := srv.db.ListAssets(ctx, srv.tenant, simulate.AssetType, store.Page{})
	if err != nil || len(assets) != 3 {
		t.Fatalf("assets of type %s: %d, %v", simulate.AssetType, len(assets), err)
	}
	sensors, err := srv.db.ListSensors(ctx, srv.tenant, "mill-02")
	if err != nil || len(sensors) != 5 {
		t.Fatalf("sensors of mill-02: %d, %v", len(sensors), err)
	}
	if st.Steps < 100 {
		t.Errorf("only %d steps in 2.5 s at 10 ms per step", st.Steps)
	}
	if st.Retries < 2 {
		t.Errorf("retries = %d, want the 429 and the 503 retried", st.Retries)
	}
	if st.Failed != 0 {
		t.Errorf("%d readings failed", st.Failed)
	}
	if st.Rejected == 0 || st.Rejected != st.Faults[simulate.FaultInvalid] {
		t.Errorf("rejected %d readings, injected %d invalid ones", st.Rejected, st.Faults[simulate.FaultInvalid])
	}
	if st.Accepted+st.Rejected != st.Generated {
		t.Errorf("accepted %d + rejected %d != generated %d: good readings of a rejected batch were lost", st.Accepted, st.Rejected, st.Generated)
	}
	stored, err := srv.db.CountReadings(ctx, srv.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if stored != int64(st.Accepted) {
		t.Errorf("stored %d readings, the API acknowledged %d", stored, st.Accepted)
	}

	// The excursion of mill-01 starting at step 20 went past the torque alarm.
	series, err := srv.db.QueryReadings(ctx, srv.tenant, store.ReadingsQuery{
		AssetID: "mill-01", SensorIDs: []string{"torque"}, From: start.Add(-time.Minute), To: time.Now().Add(time.Minute), Limit: 100000,
	})
	if err != nil || len(series) != 1 {
		t.Fatalf("torque of mill-01: %v, %v", series, err)
	}
	var alarm float64
	for _, s := range sensors {
		if s.ID == "torque" && s.AlarmHigh != nil {
			alarm = *s.AlarmHigh
		}
	}
	past := 0
	for _, p := range series[0].Points {
		if p.Value > alarm {
			past++
		}
	}
	if alarm == 0 || past < 5 {
		t.Errorf("mill-01 torque past its alarm threshold %g in %d readings, want an excursion of several", alarm, past)
	}

	// A second run finds everything registered.
	again, err := simulate.New(simulate.Options{BaseURL: srv.url, APIKey: srv.key, Assets: 3, Speedup: 6000, Duration: 100 * time.Millisecond, Faults: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := again.Stats(); st.AssetsCreated != 0 || st.SensorsCreated != 0 || st.Accepted == 0 || st.Accepted != st.Generated {
		t.Errorf("second run: %+v", st)
	}
}

func TestSimulatorSplitsBatchesOverTheAPILimit(t *testing.T) {
	srv := startAPI(t, 40)
	sim, err := simulate.New(simulate.Options{BaseURL: srv.url, APIKey: srv.key, Assets: 2, Speedup: 6000, Batch: 150, Duration: 500 * time.Millisecond, Faults: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	stored, err := srv.db.CountReadings(context.Background(), srv.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != st.Generated || stored != int64(st.Accepted) || st.Failed != 0 {
		t.Errorf("stats %+v, stored %d", st, stored)
	}
	if max := (st.Generated + 39) / 40; st.Requests < max {
		t.Errorf("%d requests for %d readings at most 40 per request", st.Requests, st.Generated)
	}
}

func TestSimulatorWrongKey(t *testing.T) {
	srv := startAPI(t, 10000)
	key, _, _ := apikey.Generate()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := simulate.Run(ctx, simulate.Options{BaseURL: srv.url, APIKey: key})
	var se *simulate.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("Run with an unknown key = %v, want a 401 StatusError", err)
	}
}

func TestSimulatorWaitsForTheAPI(t *testing.T) {
	// Nothing listens yet: the simulator keeps trying until the context ends
	// and then stops without error.
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := simulate.Run(ctx, simulate.Options{BaseURL: ts.URL, APIKey: "sm_abcdefgh_0123456789abcdef0123456789abcdef"}); err != nil {
		t.Fatalf("Run = %v, want nil when stopped while waiting", err)
	}
	if calls.Load() < 2 {
		t.Errorf("%d attempts, want retries while the API answers 503", calls.Load())
	}
}

// TestSimulatorCrew: the demo crew and one lubrication schedule per machine
// are registered once, the first machine's falls due within the preventive
// lead time, and AfterSetup runs before readings flow.
func TestSimulatorCrew(t *testing.T) {
	srv := startAPI(t, 10000)
	ctx := context.Background()
	run := func() simulate.Stats {
		t.Helper()
		var setups atomic.Int32
		sim, err := simulate.New(simulate.Options{BaseURL: srv.url, APIKey: srv.key, Assets: 3, Speedup: 6000, Duration: 100 * time.Millisecond,
			Faults: "none", Crew: true, AfterSetup: func(context.Context) { setups.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if setups.Load() != 1 {
			t.Errorf("AfterSetup ran %d times", setups.Load())
		}
		return sim.Stats()
	}
	if st := run(); st.TechniciansCreated != 2 || st.SchedulesCreated != 3 || st.Accepted == 0 {
		t.Fatalf("first run: %+v", st)
	}
	techs, err := (&maintenance.Store{DB: srv.db}).ListTechnicians(ctx, srv.tenant, maintenance.TechnicianFilter{}, store.Page{})
	if err != nil || len(techs) != 2 {
		t.Fatalf("technicians %v, %v", techs, err)
	}
	due, err := (&maintenance.Store{DB: srv.db}).DuePreventiveSchedules(ctx, srv.tenant, time.Now(), 72*time.Hour)
	if err != nil || len(due) != 1 || due[0].Schedule.AssetID != "mill-01" || len(due[0].Schedule.Checklist) != 3 {
		t.Errorf("due after setup: %+v, %v; want mill-01's lubrication", due, err)
	}
	if st := run(); st.TechniciansCreated != 0 || st.SchedulesCreated != 0 {
		t.Errorf("second run created %d technicians and %d schedules", st.TechniciansCreated, st.SchedulesCreated)
	}
}

// TestFleetsAgainstAPI streams the turbofan engines and the bearing rig
// alone: their assets and every feature sensor are registered, and every
// acknowledged reading is stored, each step at a timestamp of its own.
func TestFleetsAgainstAPI(t *testing.T) {
	srv := startAPI(t, 10000)
	sim, err := simulate.New(simulate.Options{
		BaseURL: srv.url, APIKey: srv.key, Fleets: simulate.EngineFleet + "," + simulate.BearingFleet, Duration: 400 * time.Millisecond,
		Engines:  simulate.EngineOptions{Units: []int{31, 34}, Tick: 20 * time.Millisecond},
		Bearings: simulate.BearingOptions{Tick: 20 * time.Millisecond},
	})
	if err != nil {
		t.Skip(err) // a dataset is missing
	}
	if sim.Replay() != nil {
		t.Error("milling machines simulated without being asked for")
	}
	if err := sim.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	if st.AssetsCreated != 3 || st.SensorsCreated != 2*85+12 || st.FleetSteps[simulate.EngineFleet] < 5 || st.FleetSteps[simulate.BearingFleet] < 5 {
		t.Fatalf("stats %+v", st)
	}
	ctx := context.Background()
	for _, a := range sim.FleetAssets() {
		sensors, err := srv.db.ListSensors(ctx, srv.tenant, a.ID)
		if err != nil || len(sensors) != len(a.Sensors) {
			t.Errorf("%s: %d sensors registered of %d (%v)", a.ID, len(sensors), len(a.Sensors), err)
		}
	}
	stored, err := srv.db.CountReadings(ctx, srv.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != st.Generated || stored != int64(st.Accepted) || st.Rejected != 0 {
		t.Errorf("stats %+v, stored %d", st, stored)
	}
}
