package schedule

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases must not depend on the host's zoneinfo
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at is a UTC instant on a day of the week of Monday 2025-06-02.
func at(day time.Weekday, hh, mm int) time.Time {
	d := int(day) - 1
	if day == time.Sunday {
		d = 6
	}
	return time.Date(2025, 6, 2+d, hh, mm, 0, 0, time.UTC)
}

func shifts(start, end string, days ...time.Weekday) Week {
	s := Shift{Start: mustClock(start), End: mustClock(end)}
	var w Week
	for _, d := range days {
		w[d] = append(w[d], s)
	}
	return w
}

func mustClock(s string) Clock {
	c, err := ParseClock(s)
	if err != nil {
		panic(err)
	}
	return c
}

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
var everyDay = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

// officeHours is Monday to Friday 08:00-16:00 UTC with skill "mech".
func officeHours(id string, bookings ...Interval) Technician {
	return Technician{ID: id, Skills: []string{"mech"}, Week: shifts("08:00", "16:00", weekdays...), Bookings: bookings}
}

func iv(a, b time.Time) Interval { return Interval{a, b} }

func TestAssign(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	newYork := mustLoc(t, "America/New_York")
	mon, tue, wed := time.Monday, time.Tuesday, time.Wednesday
	job := func(d time.Duration, earliest time.Time) Job {
		return Job{ID: "j", Skills: []string{"mech"}, Duration: d, EarliestStart: earliest}
	}
	withDeadline := func(j Job, d time.Time) Job { j.Deadline = d; return j }
	splittable := func(j Job) Job { j.Splittable = true; return j }
	nightShift := Technician{ID: "n", Skills: []string{"mech"}, Week: shifts("22:00", "06:00", everyDay...)}
	nightAndMorning := nightShift
	nightAndMorning.Week = shifts("22:00", "06:00", everyDay...)
	for _, d := range everyDay {
		nightAndMorning.Week[d] = append([]Shift{{mustClock("06:00"), mustClock("10:00")}}, nightAndMorning.Week[d]...)
	}

	tests := []struct {
		name    string
		job     Job
		techs   []Technician
		opts    Options
		want    Assignment // JobID "j" is implied
		wantErr error
	}{
		{
			name:  "before the first shift starts",
			job:   job(2*time.Hour, at(mon, 7, 0)),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 8, 0), End: at(mon, 10, 0)},
		},
		{
			name:  "too little left of today's shift",
			job:   job(2*time.Hour, at(mon, 15, 0)),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(tue, 8, 0), End: at(tue, 10, 0)},
		},
		{
			name:  "mid-shift start",
			job:   job(90*time.Minute, at(mon, 9, 17)),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 9, 17), End: at(mon, 10, 47)},
		},
		{
			name:  "booking leaves too short a gap",
			job:   job(5*time.Hour, at(mon, 7, 0)),
			techs: []Technician{officeHours("a", iv(at(mon, 8, 0), at(mon, 12, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(tue, 8, 0), End: at(tue, 13, 0)},
		},
		{
			name: "overlapping bookings are merged",
			job:  job(4*time.Hour, at(mon, 7, 0)),
			techs: []Technician{officeHours("a",
				iv(at(mon, 10, 30), at(mon, 12, 0)), iv(at(mon, 8, 0), at(mon, 10, 0)), iv(at(mon, 9, 0), at(mon, 11, 0)))},
			want: Assignment{TechnicianID: "a", Start: at(mon, 12, 0), End: at(mon, 16, 0)},
		},
		{
			name:  "fits exactly between bookings",
			job:   job(2*time.Hour, at(mon, 7, 0)),
			techs: []Technician{officeHours("a", iv(at(mon, 8, 0), at(mon, 10, 0)), iv(at(mon, 12, 0), at(mon, 16, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 10, 0), End: at(mon, 12, 0)},
		},
		{
			name:  "earliest start inside a booking",
			job:   job(time.Hour, at(mon, 9, 0)),
			techs: []Technician{officeHours("a", iv(at(mon, 8, 0), at(mon, 11, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 11, 0), End: at(mon, 12, 0)},
		},
		{
			name:  "booking spanning days",
			job:   job(time.Hour, at(mon, 9, 0)),
			techs: []Technician{officeHours("a", iv(at(mon, 12, 0), at(wed, 9, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 9, 0), End: at(mon, 10, 0)},
		},
		{
			name:  "booking spanning days blocks them",
			job:   job(2*time.Hour, at(mon, 11, 0)),
			techs: []Technician{officeHours("a", iv(at(mon, 12, 0), at(wed, 9, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(wed, 9, 0), End: at(wed, 11, 0)},
		},
		{
			name:  "earliest finisher wins across technicians",
			job:   job(2*time.Hour, at(mon, 7, 0)),
			techs: []Technician{officeHours("a", iv(at(mon, 8, 0), at(mon, 12, 0))), officeHours("b", iv(at(mon, 8, 0), at(mon, 9, 0)))},
			want:  Assignment{TechnicianID: "b", Start: at(mon, 9, 0), End: at(mon, 11, 0)},
		},
		{
			name: "tie goes to the least loaded",
			job:  job(2*time.Hour, at(mon, 7, 0)),
			techs: []Technician{
				officeHours("a", iv(at(tue, 8, 0), at(tue, 16, 0)), iv(at(wed, 8, 0), at(wed, 16, 0))),
				officeHours("b", iv(at(tue, 8, 0), at(tue, 12, 0))),
			},
			want: Assignment{TechnicianID: "b", Start: at(mon, 8, 0), End: at(mon, 10, 0)},
		},
		{
			name:  "full tie goes to the smaller id",
			job:   job(2*time.Hour, at(mon, 7, 0)),
			techs: []Technician{officeHours("b"), officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 8, 0), End: at(mon, 10, 0)},
		},
		{
			name: "unqualified technicians are ignored",
			job:  Job{ID: "j", Skills: []string{"mech", "elec"}, Duration: time.Hour, EarliestStart: at(mon, 7, 0)},
			techs: []Technician{officeHours("a"), {ID: "z", Skills: []string{"elec", "mech", "hyd"},
				Week: shifts("08:00", "16:00", weekdays...), Bookings: []Interval{iv(at(mon, 8, 0), at(mon, 12, 0))}}},
			want: Assignment{TechnicianID: "z", Start: at(mon, 12, 0), End: at(mon, 13, 0)},
		},
		{
			name:    "infeasible: nobody has the skills",
			job:     Job{ID: "j", Skills: []string{"hyd"}, Duration: time.Hour, EarliestStart: at(mon, 7, 0)},
			techs:   []Technician{officeHours("a"), officeHours("b")},
			wantErr: ErrNoQualifiedTechnician,
		},
		{
			name:    "infeasible: no technicians at all",
			job:     job(time.Hour, at(mon, 7, 0)),
			wantErr: ErrNoQualifiedTechnician,
		},
		{
			name:    "infeasible: longer than any shift and not splittable",
			job:     job(9*time.Hour, at(mon, 7, 0)),
			techs:   []Technician{officeHours("a")},
			wantErr: ErrNoSlot,
		},
		{
			name:    "infeasible: qualified technician without shifts",
			job:     job(time.Hour, at(mon, 7, 0)),
			techs:   []Technician{{ID: "a", Skills: []string{"mech"}}},
			wantErr: ErrNoSlot,
		},
		{
			name:    "infeasible: booked solid over the horizon",
			job:     job(time.Hour, at(mon, 7, 0)),
			techs:   []Technician{officeHours("a", iv(at(mon, 0, 0), at(mon, 0, 0).Add(10*24*time.Hour)))},
			opts:    Options{Horizon: 7 * 24 * time.Hour},
			wantErr: ErrNoSlot,
		},
		{
			name: "infeasible: on leave for the whole horizon",
			job:  job(time.Hour, at(mon, 7, 0)),
			techs: []Technician{func() Technician {
				a := officeHours("a")
				a.Absences = []Absence{{From: DateOf(at(mon, 0, 0)), To: DateOf(at(mon, 0, 0)).AddDays(30)}}
				return a
			}()},
			opts:    Options{Horizon: 7 * 24 * time.Hour},
			wantErr: ErrNoSlot,
		},
		{
			name:    "invalid job: no duration",
			job:     job(0, at(mon, 7, 0)),
			techs:   []Technician{officeHours("a")},
			wantErr: ErrInvalidJob,
		},
		{
			name:    "invalid job: no earliest start",
			job:     job(time.Hour, time.Time{}),
			techs:   []Technician{officeHours("a")},
			wantErr: ErrInvalidJob,
		},
		{
			name:  "on time with a deadline",
			job:   withDeadline(job(2*time.Hour, at(mon, 7, 0)), at(mon, 10, 0)),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 8, 0), End: at(mon, 10, 0)},
		},
		{
			name:  "late: least-late slot flagged",
			job:   withDeadline(job(4*time.Hour, at(mon, 7, 0)), at(mon, 10, 0)),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 8, 0), End: at(mon, 12, 0), Late: true, Lateness: 2 * time.Hour},
		},
		{
			name: "late: the least late of the technicians",
			job:  withDeadline(job(4*time.Hour, at(mon, 7, 0)), at(mon, 9, 0)),
			techs: []Technician{
				officeHours("a", iv(at(mon, 8, 0), at(tue, 12, 0))),
				officeHours("b", iv(at(mon, 8, 0), at(mon, 11, 0))),
			},
			want: Assignment{TechnicianID: "b", Start: at(mon, 11, 0), End: at(mon, 15, 0), Late: true, Lateness: 6 * time.Hour},
		},
		{
			name: "absence skips days",
			job:  job(2*time.Hour, at(mon, 7, 0)),
			techs: []Technician{func() Technician {
				a := officeHours("a")
				a.Absences = []Absence{{From: DateOf(at(mon, 0, 0)), To: DateOf(at(tue, 0, 0)), Reason: "leave"}}
				return a
			}()},
			want: Assignment{TechnicianID: "a", Start: at(wed, 8, 0), End: at(wed, 10, 0)},
		},
		{
			name:  "weekend skipped",
			job:   job(2*time.Hour, at(time.Friday, 15, 0)),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 8, 0).Add(7 * 24 * time.Hour), End: at(mon, 10, 0).Add(7 * 24 * time.Hour)},
		},
		{
			name:  "splittable job pauses overnight",
			job:   splittable(job(10*time.Hour, at(mon, 7, 0))),
			techs: []Technician{officeHours("a")},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 8, 0), End: at(tue, 10, 0)},
		},
		{
			name:  "splittable job never pauses around a booking",
			job:   splittable(job(10*time.Hour, at(mon, 7, 0))),
			techs: []Technician{officeHours("a", iv(at(tue, 8, 0), at(tue, 9, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(tue, 9, 0), End: at(wed, 11, 0)},
		},
		{
			name:  "splittable job: overtime booking at night is a barrier",
			job:   splittable(job(10*time.Hour, at(mon, 7, 0))),
			techs: []Technician{officeHours("a", iv(at(mon, 20, 0), at(mon, 22, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(tue, 8, 0), End: at(wed, 10, 0)},
		},
		{
			name:  "splittable job resumes at the next shift",
			job:   splittable(job(3*time.Hour, at(mon, 14, 0))),
			techs: []Technician{officeHours("a"), officeHours("b", iv(at(mon, 8, 0), at(mon, 14, 0)))},
			want:  Assignment{TechnicianID: "a", Start: at(mon, 14, 0), End: at(tue, 9, 0)},
		},
		{
			name:  "overnight shift",
			job:   job(6*time.Hour, at(mon, 12, 0)),
			techs: []Technician{nightShift},
			want:  Assignment{TechnicianID: "n", Start: at(mon, 22, 0), End: at(tue, 4, 0)},
		},
		{
			name:  "overnight shift of the day before the earliest start",
			job:   job(2*time.Hour, at(tue, 1, 0)),
			techs: []Technician{nightShift},
			want:  Assignment{TechnicianID: "n", Start: at(tue, 1, 0), End: at(tue, 3, 0)},
		},
		{
			name:  "overnight shift merges with the next morning's",
			job:   job(10*time.Hour, at(mon, 12, 0)),
			techs: []Technician{nightAndMorning},
			want:  Assignment{TechnicianID: "n", Start: at(mon, 22, 0), End: at(tue, 8, 0)},
		},
		{
			name:  "shift calendar in the technician's time zone",
			job:   job(time.Hour, at(mon, 0, 0)),
			techs: []Technician{{ID: "ny", Skills: []string{"mech"}, Location: newYork, Week: shifts("08:00", "16:00", weekdays...)}},
			want:  Assignment{TechnicianID: "ny", Start: at(mon, 12, 0), End: at(mon, 13, 0)}, // 08:00 EDT
		},
		{
			// 2025-03-30: clocks in Berlin jump from 02:00 to 03:00, so the
			// 00:00-06:00 shift has five hours.
			name:  "DST spring forward: the short night shift cannot hold 5.5 hours",
			job:   job(5*time.Hour+30*time.Minute, time.Date(2025, 3, 29, 7, 0, 0, 0, berlin)),
			techs: []Technician{{ID: "b", Skills: []string{"mech"}, Location: berlin, Week: shifts("00:00", "06:00", everyDay...)}},
			want: Assignment{TechnicianID: "b", Start: time.Date(2025, 3, 31, 0, 0, 0, 0, berlin),
				End: time.Date(2025, 3, 31, 5, 30, 0, 0, berlin)},
		},
		{
			name:  "DST spring forward: five hours fit exactly",
			job:   job(5*time.Hour, time.Date(2025, 3, 29, 7, 0, 0, 0, berlin)),
			techs: []Technician{{ID: "b", Skills: []string{"mech"}, Location: berlin, Week: shifts("00:00", "06:00", everyDay...)}},
			want: Assignment{TechnicianID: "b", Start: time.Date(2025, 3, 30, 0, 0, 0, 0, berlin),
				End: time.Date(2025, 3, 30, 6, 0, 0, 0, berlin)},
		},
		{
			// 2025-10-26: clocks fall back from 03:00 to 02:00: seven hours.
			name:  "DST fall back: the long night shift holds 6.5 hours",
			job:   job(6*time.Hour+30*time.Minute, time.Date(2025, 10, 25, 7, 0, 0, 0, berlin)),
			techs: []Technician{{ID: "b", Skills: []string{"mech"}, Location: berlin, Week: shifts("00:00", "06:00", everyDay...)}},
			want: Assignment{TechnicianID: "b", Start: time.Date(2025, 10, 26, 0, 0, 0, 0, berlin),
				End: time.Date(2025, 10, 26, 5, 30, 0, 0, berlin)},
		},
		{
			name:  "DST: day shift keeps local hours across the change",
			job:   job(time.Hour, time.Date(2025, 3, 28, 17, 0, 0, 0, berlin)),
			techs: []Technician{{ID: "b", Skills: []string{"mech"}, Location: berlin, Week: shifts("08:00", "16:00", weekdays...)}},
			want: Assignment{TechnicianID: "b", Start: time.Date(2025, 3, 31, 8, 0, 0, 0, berlin),
				End: time.Date(2025, 3, 31, 9, 0, 0, 0, berlin)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Assign(tt.job, tt.techs, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Assign() error = %v, want %v (assignment %+v)", err, tt.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Assign() error = %v", err)
			}
			tt.want.JobID = "j"
			if got.TechnicianID != tt.want.TechnicianID || !got.Start.Equal(tt.want.Start) || !got.End.Equal(tt.want.End) ||
				got.Late != tt.want.Late || got.Lateness != tt.want.Lateness {
				t.Errorf("Assign() =\n %v %s-%s late=%v %s\nwant\n %v %s-%s late=%v %s", got.TechnicianID, got.Start.UTC(), got.End.UTC(), got.Late, got.Lateness,
					tt.want.TechnicianID, tt.want.Start.UTC(), tt.want.End.UTC(), tt.want.Late, tt.want.Lateness)
			}
		})
	}
}

func TestAssignDoesNotModifyInput(t *testing.T) {
	b := []Interval{iv(at(time.Monday, 12, 0), at(time.Monday, 13, 0)), iv(at(time.Monday, 8, 0), at(time.Monday, 9, 0))}
	techs := []Technician{officeHours("a", b...)}
	if _, err := Assign(Job{ID: "j", Duration: time.Hour, EarliestStart: at(time.Monday, 7, 0)}, techs, Options{}); err != nil {
		t.Fatal(err)
	}
	if !techs[0].Bookings[0].Start.Equal(at(time.Monday, 12, 0)) {
		t.Errorf("bookings were reordered in place: %v", techs[0].Bookings)
	}
}

func TestInvalidCalendars(t *testing.T) {
	job := Job{ID: "j", Duration: time.Hour, EarliestStart: at(time.Monday, 7, 0)}
	overlapping := officeHours("a")
	overlapping.Week[time.Monday] = append(overlapping.Week[time.Monday], Shift{mustClock("15:00"), mustClock("18:00")})
	empty := officeHours("a")
	empty.Week[time.Tuesday] = []Shift{{mustClock("10:00"), mustClock("10:00")}}
	backwards := officeHours("a")
	backwards.Absences = []Absence{{From: Date{2025, 6, 5}, To: Date{2025, 6, 4}}}
	badBooking := officeHours("a", iv(at(time.Monday, 10, 0), at(time.Monday, 9, 0)))
	for name, tech := range map[string]Technician{"overlapping shifts": overlapping, "empty shift": empty,
		"absence ends before it starts": backwards, "booking ends before it starts": badBooking} {
		if _, err := Assign(job, []Technician{tech}, Options{}); err == nil {
			t.Errorf("%s: Assign() succeeded, want an error", name)
		}
	}
}

func TestWeekJSON(t *testing.T) {
	var w Week
	in := `{"mon":[["08:00","12:00"],["13:00","17:00"]],"sat":[["22:00","06:00"]]}`
	if err := json.Unmarshal([]byte(in), &w); err != nil {
		t.Fatal(err)
	}
	if len(w[time.Monday]) != 2 || w[time.Monday][1] != (Shift{13 * 60, 17 * 60}) || !w[time.Saturday][0].Overnight() {
		t.Fatalf("parsed %+v", w)
	}
	out, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip = %s, want %s", out, in)
	}
	for _, bad := range []string{`{"funday":[]}`, `{"mon":[["8:00","12:00"]]}`, `{"mon":[["08:00","24:30"]]}`, `{"mon":[["08:00"]]}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &w); err == nil {
			t.Errorf("Unmarshal(%s) succeeded, want an error", bad)
		}
	}
	var a Absence
	if err := json.Unmarshal([]byte(`{"from":"2025-03-10","to":"2025-03-14","reason":"leave"}`), &a); err != nil || a.To != (Date{2025, 3, 14}) {
		t.Errorf("absence = %+v, %v", a, err)
	}
	if err := json.Unmarshal([]byte(`{"from":"2025-02-30","to":"2025-03-14"}`), &a); err == nil {
		t.Error("absence with an impossible date parsed")
	}
}
