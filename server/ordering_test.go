package server

import (
	"testing"
	"time"
)

func TestParseGeneralizedTime_ReadsEveryFormOfRFC4517(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for in, want := range map[string]time.Time{
		"20310506070809Z":        at("2031-05-06T07:08:09Z"),
		"203105060708Z":          at("2031-05-06T07:08:00Z"),
		"2031050607Z":            at("2031-05-06T07:00:00Z"),
		"2031050607.5Z":          at("2031-05-06T07:30:00Z"),
		"203105060708,25Z":       at("2031-05-06T07:08:15Z"),
		"20310506070809.123456Z": at("2031-05-06T07:08:09.123456Z"),
		"20310506090809+0200":    at("2031-05-06T07:08:09Z"),
		"20310506000809-07":      at("2031-05-06T07:08:09Z"),
		"20161231235960Z":        at("2017-01-01T00:00:00Z"), // a leap second
	} {
		got, ok := parseGeneralizedTime(in)
		if !ok || !got.Equal(want) {
			t.Errorf("parseGeneralizedTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2031", "20310506", "203105060Z", "20310506070809", "20310506070809z",
		"20310506070809Z ", "20311306070809Z", "20310230070809Z", "20310506240809Z", "20310506076009Z",
		"20310506070809.Z", "20310506070809+2400", "20310506070809+01:00", "20310506070809+1", "2031O506070809Z",
		"20310506070809ZZ", "-2031050607Z"} {
		if got, ok := parseGeneralizedTime(in); ok {
			t.Errorf("parseGeneralizedTime(%q) = %v, want refused", in, got)
		}
	}
}

func TestCompareIntegers_AnyLength(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"10001", "10001", 0}, {"9", "10", -1}, {"100000000000000000000", "99", 1},
		{"-5", "3", -1}, {"-5", "-40", 1}, {"0", "-1", 1}, {"0", "0", 0},
	} {
		if got := compareIntegers(tc.a, tc.b); got != tc.want {
			t.Errorf("compareIntegers(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	for in, want := range map[string]bool{"0": true, "10001": true, "-3": true, "010001": false, "-0": false, "": false, "-": false, "1e3": false} {
		if got := isInteger(in); got != want {
			t.Errorf("isInteger(%q) = %v", in, got)
		}
	}
}

// The ordering rules come from the subschema, following SUP.
func TestOrderingOf_FromTheSubschema(t *testing.T) {
	for attr, want := range map[string]string{
		"modifytimestamp": "generalizedtimeorderingmatch", "2.5.18.2": "generalizedtimeorderingmatch",
		"createtimestamp": "generalizedtimeorderingmatch", "entryuuid": "uuidorderingmatch", "uid": "",
	} {
		if got := orderingOf(attr); got != want {
			t.Errorf("ordering of %s: %q, want %q", attr, got, want)
		}
	}
}
