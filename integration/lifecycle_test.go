package integration

import (
	"strings"
	"testing"
	"time"
)

type listedAppPassword struct {
	ID           string `json:"id"`
	Label        string `json:"label"`
	LastUsed     string `json:"last_used"`
	LastUsedFrom string `json:"last_used_from"`
}

// Last use is kept off the bind path and written in batches; a clean stop
// writes what is pending.
func TestAppPassword_LastUseWrittenByCleanStop(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("gina", true)
	id, pw := w.appPassword("gina", "phone")
	if _, rc := goLDAPBind(t, w.url(), u.dn, pw); rc != 0 {
		t.Fatalf("bind: result %d", rc)
	}
	w.stop()
	if !strings.Contains(w.logs.String(), "database closed") {
		t.Errorf("the server did not log closing the database on SIGTERM:\n%s", w.logs.String())
	}
	var list []listedAppPassword
	w.adminJSON(&list, "", "apppw", "list", "gina")
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("apppw list = %+v, want the one app password %s", list, id)
	}
	if list[0].LastUsedFrom != "127.0.0.1" {
		t.Errorf("last used from %q, want 127.0.0.1", list[0].LastUsedFrom)
	}
	used, err := time.Parse(time.RFC3339, list[0].LastUsed)
	if err != nil || time.Since(used) > time.Minute {
		t.Errorf("last used %q, want a time within the last minute", list[0].LastUsed)
	}
}

func TestAppPassword_CreateRefusedWithoutTOTPAndPastLimit(t *testing.T) {
	w := startWicket(t, "[auth]\nmax_app_passwords = 3\n")
	w.newUser("hank", false)
	_, errOut, err := w.run("", "apppw", "create", "hank", "--label", "phone")
	if err == nil || !strings.Contains(errOut, "two-factor") {
		t.Fatalf("apppw create without TOTP: err=%v, stderr=%q; want a refusal naming two-factor", err, errOut)
	}
	w.adminJSON(&struct{}{}, "", "totp", "enroll", "hank")
	for i := 0; i < 3; i++ {
		w.appPassword("hank", "device")
	}
	_, errOut, err = w.run("", "apppw", "create", "hank", "--label", "one too many")
	if err == nil || !strings.Contains(errOut, "revoke") {
		t.Fatalf("apppw create past the limit: err=%v, stderr=%q; want a refusal", err, errOut)
	}
}
