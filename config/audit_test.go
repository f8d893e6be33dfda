package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration_TakesDays(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90d":    90 * 24 * time.Hour,
		"1d12h":  36 * time.Hour,
		"0d":     0,
		"36h":    36 * time.Hour,
		"250ms":  250 * time.Millisecond,
		"0":      0,
		"7d30m":  7*24*time.Hour + 30*time.Minute,
		"-5s":    -5 * time.Second,
		"2d0.5h": 48*time.Hour + 30*time.Minute,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "+1d", "1d-1h", "1dd", "90 d", "1d1d", "soon", "99999999d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "90d") {
			t.Errorf("ParseDuration(%q): error %q does not show the day form", in, err)
		}
	}
}

func TestAudit_RetentionDefaultFileAndValidation(t *testing.T) {
	if d := Default().Audit.Retention.Duration; d != 90*24*time.Hour {
		t.Errorf("default retention %v, want 90 days", d)
	}
	c, err := Load(write(t, "[audit]\nretention = \"30d\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Retention.Duration != 30*24*time.Hour {
		t.Errorf("retention %v, want 30 days", c.Audit.Retention.Duration)
	}
	ex, err := Load("wicket.example.toml")
	if err != nil || ex.Audit != Default().Audit {
		t.Errorf("the example's [audit] = %+v, %v; want the defaults %+v", ex.Audit, err, Default().Audit)
	}
	c.Audit.Retention.Duration = 0
	if err := c.Validate(); err != nil {
		t.Errorf("a zero retention (keep for ever) is refused: %v", err)
	}
	c.Audit.Retention.Duration = -time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "audit.retention") {
		t.Errorf("a negative retention: %v, want an error naming audit.retention", err)
	}
}
