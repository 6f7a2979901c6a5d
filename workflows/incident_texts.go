package workflows

import (
	"fmt"
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
)

// The texts of the incident's notices: a subject line and a body each,
// written from the state at the moment the notice goes out.

// notice is one message to the tenant's channels.
type notice struct {
	subject, text string
}

func approvalRequestedNotice(s *IncidentState) notice {
	return notice{
		fmt.Sprintf("[%s] %s: approval needed", s.Severity, s.AssetID),
		fmt.Sprintf("Incident %s on %s needs a decision (confidence %.2f).\n%s", s.ID, s.AssetID, s.Validation.Confidence, evidenceText(s.Evidence)),
	}
}

func reminderNotice(s *IncidentState, decideBy time.Time) notice {
	return notice{
		fmt.Sprintf("[%s] %s: reminder, decision still open", s.Severity, s.AssetID),
		fmt.Sprintf("Incident %s on %s was acknowledged by %s but has no decision yet. The policy will %s at %s.\n%s",
			s.ID, s.AssetID, s.Assignee, s.Policy.TimeoutDecision, decideBy.Format(time.RFC3339), evidenceText(s.Evidence)),
	}
}

func escalationNotice(s *IncidentState) notice {
	p := s.Policy
	return notice{
		fmt.Sprintf("[escalation %d] %s: decision overdue", s.EscalationStage, s.AssetID),
		fmt.Sprintf("Incident %s on %s has waited %s for a decision. Escalation stage %d of %d; after it the policy will %s.\n%s",
			s.ID, s.AssetID, time.Duration(s.EscalationStage)*time.Duration(p.ApprovalTimeout), s.EscalationStage, p.EscalationStages, p.TimeoutDecision, evidenceText(s.Evidence)),
	}
}

func rejectedNotice(s *IncidentState, d incident.Decision) notice {
	return notice{
		fmt.Sprintf("[%s] %s: rejected, incident closed", s.Severity, s.AssetID),
		fmt.Sprintf("Incident %s on %s was rejected as a false alarm by %s.%s", s.ID, s.AssetID, d.User, commentLine(d.Comment)),
	}
}

func scheduledNotice(s *IncidentState, approver string) notice {
	return notice{
		fmt.Sprintf("[%s] %s: work order scheduled", s.Severity, s.AssetID),
		fmt.Sprintf("Incident %s on %s was approved by %s.\n%s\n%s\nWork order: %s",
			s.ID, s.AssetID, approver, evidenceText(s.Evidence), forecastText(s.Forecast), s.WorkOrder.Summary()),
	}
}

// displacedNotice tells that the incident's work order took the slot of
// work order d.
func displacedNotice(s *IncidentState, d maintenance.Displacement) notice {
	who := "its technician"
	if d.TechnicianName != "" {
		who = d.TechnicianName
	}
	from := "its slot"
	if d.Before != nil {
		from = "its slot from " + d.Before.Start.UTC().Format(time.RFC3339)
	}
	next := "It is unassigned now: " + d.Unassigned
	if d.After != nil {
		next = fmt.Sprintf("It is booked again from %s to %s (technician %s).", d.After.Start.UTC().Format(time.RFC3339), d.After.End.UTC().Format(time.RFC3339), d.After.TechnicianID)
		if d.After.Late {
			next += " That is after its deadline."
		}
	}
	return notice{
		fmt.Sprintf("[%s] work order %q moved for %s", d.Priority, d.Title, s.AssetID),
		fmt.Sprintf("Work order %s (%s, %s) lost %s with %s to %s work order %s for incident %s on %s.\n%s",
			d.WorkOrderID, d.Title, d.Priority, from, who, s.WorkOrder.Priority, s.WorkOrder.ID, s.ID, s.AssetID, next),
	}
}

// forecastText names the forecast's method, model and version, and
// interval, then its detail.
func forecastText(f *incident.Forecast) string {
	if f == nil {
		return "Forecast: none"
	}
	head := "method " + f.Method
	if f.Model != "" {
		head += fmt.Sprintf(", model %s v%d", f.Model, f.ModelVersion)
	}
	if f.Method != incident.ForecastNone && f.Method != incident.ForecastObserved {
		latest := "beyond the horizon"
		if f.Latest > 0 {
			latest = time.Duration(f.Latest).Round(time.Second).String()
		}
		what := "time to the limit"
		if f.Model != "" {
			what = "time to failure"
		}
		head += fmt.Sprintf(", %s %s to %s", what, time.Duration(f.Earliest).Round(time.Second), latest)
	}
	return fmt.Sprintf("Forecast (%s): %s", head, f.Detail)
}

func resolvedNotice(s *IncidentState) notice {
	return notice{
		fmt.Sprintf("[%s] %s: resolved, work order done", s.Severity, s.AssetID),
		fmt.Sprintf("Incident %s on %s is resolved: work order %s is done.", s.ID, s.AssetID, s.WorkOrder.ID),
	}
}

func cancelledNotice(s *IncidentState) notice {
	return notice{
		fmt.Sprintf("[%s] %s: closed, work order cancelled", s.Severity, s.AssetID),
		fmt.Sprintf("Incident %s on %s is closed: work order %s was cancelled.", s.ID, s.AssetID, s.WorkOrder.ID),
	}
}

// workOrderTitle and workOrderDescription describe the work an incident
// asks for.
func workOrderTitle(s *IncidentState, f incident.Forecast) string {
	if f.Model != "" {
		return fmt.Sprintf("Inspect %s: %s, %s forecast by %s v%d", s.AssetID, s.Severity, f.Method, f.Model, f.ModelVersion)
	}
	return fmt.Sprintf("Inspect %s: %s anomaly on %s", s.AssetID, s.Severity, f.SensorID)
}

func workOrderDescription(s *IncidentState, f incident.Forecast) string {
	return evidenceText(s.Evidence) + "\n" + forecastText(&f)
}

// evidenceText lists the evidence: its span, each sensor's anomalies and
// the latest reason.
func evidenceText(e incident.Evidence) string {
	text := fmt.Sprintf("%d anomalies from %s to %s, most severe %s.", e.Anomalies,
		e.First.Format(time.RFC3339), e.Last.Format(time.RFC3339), e.Severity)
	ids := make([]string, 0, len(e.BySensor))
	for id := range e.BySensor {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := e.BySensor[id]
		text += fmt.Sprintf("\n- %s: %d anomalies, %s, last %g at %s", id, s.Count, s.Severity, s.LastValue, s.LastTS.Format(time.RFC3339))
	}
	if n := len(e.Recent); n > 0 {
		text += "\nLatest: " + e.Recent[n-1].Reason
	}
	return text
}

// withComment appends a person's comment to an event's detail.
func withComment(msg, c string) string {
	if c == "" {
		return msg
	}
	return msg + ": " + c
}

// commentLine is a person's comment as a line of a notice.
func commentLine(c string) string {
	if c == "" {
		return ""
	}
	return "\nComment: " + c
}
