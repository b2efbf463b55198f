package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

func (k *check) checkTime() {
	t := &k.c.Time
	if k.strField("time.method", &t.Method, TimeNtpdate) || k.has("time.method") {
		if t.Method != TimeNtpdate && t.Method != TimeChrony {
			k.errf("time.method", "must be %q (a cron job steps the clock) or %q (the chrony daemon slews it), got %s", TimeNtpdate, TimeChrony, quote(t.Method))
		}
	}
	if t.Method == TimeChrony && k.has("time.schedule") {
		k.errf("time.schedule", "is for time.method %q only: with %q the daemon syncs all the time; remove time.schedule", TimeNtpdate, TimeChrony)
	}
	if k.strField("time.server", &t.Server, DefaultTimeServer) || k.has("time.server") {
		if p := addressProblem(t.Server); p != "" {
			k.errf("time.server", "%s (the NTP server clocks are synced from)", p)
		}
	}
	if k.strField("time.schedule", &t.Schedule, DefaultTimeSchedule) || k.has("time.schedule") {
		if msg := cronProblem(t.Schedule); msg != "" {
			k.errf("time.schedule", "%s", msg)
		} else {
			t.Schedule = strings.Join(strings.Fields(t.Schedule), " ")
		}
	}
}

var cronFields = []struct {
	name   string
	lo, hi int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 7}}

// cronProblem checks a 5-field cron schedule made only of numbers, *, /, , and -.
func cronProblem(s string) string {
	for _, r := range s {
		if r != ' ' && r != '\t' && !strings.ContainsRune("0123456789*/,-", r) {
			return `must be 5 cron fields (minute hour day-of-month month day-of-week) using only digits and * / , - separated by spaces, e.g. "*/10 * * * *", got ` + quote(s)
		}
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return fmt.Sprintf(`must have 5 cron fields (minute hour day-of-month month day-of-week), e.g. "*/10 * * * *", got %d in %s`, len(f), quote(s))
	}
	for i, field := range f {
		cf := cronFields[i]
		bad := fmt.Sprintf("%s field %s is not valid: use *, N, N-M, a list with commas, or /STEP, with values %d-%d", cf.name, quote(field), cf.lo, cf.hi)
		if !cronFieldRE.MatchString(field) {
			return bad
		}
		for _, item := range strings.Split(field, ",") {
			base, step, hasStep := strings.Cut(item, "/")
			if hasStep {
				n, err := strconv.Atoi(step)
				if err != nil || n < 1 || n > cf.hi {
					return bad
				}
			}
			if base == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(base, "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < cf.lo || a > cf.hi {
				return bad
			}
			if isRange {
				b, err := strconv.Atoi(hi)
				if err != nil || b < a || b > cf.hi {
					return bad
				}
			} else if hasStep {
				// "5/10" means 5-max/10 in Vixie cron but not everywhere: refuse.
				return bad
			}
		}
	}
	return ""
}
