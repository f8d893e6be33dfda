package integration

// Must-show 4: screenshots of the account page at a phone's width and a
// desktop's, taken by the browser the other tests use. They always go to a
// temporary directory; `make screenshots` sets WICKET_SCREENSHOTS to
// docs/screenshots, where README finds them.

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// viewport is a screen the pages are checked and photographed on.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{
	// An iPhone 12 to 15's CSS pixels, with touch and the mobile viewport.
	{"phone", 390, 844, true},
	{"desktop", 1280, 800, false},
}

// screenshotDir is where the pictures go: $WICKET_SCREENSHOTS (relative to
// the repository's root), else the test's temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WICKET_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// emulate sets the tab's screen.
func (b *tab) emulate(v viewport) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if v.mobile {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch}
	}
	b.do("emulating a "+v.name, chromedp.EmulateViewport(v.width, v.height, opts...))
}

// shoot checks that the page fits the screen's width, as a reader would
// (no sideways scrolling, the page laid out for the screen rather than
// zoomed out), and saves a picture of the whole page.
func (b *tab) shoot(dir, name string, v viewport) {
	b.t.Helper()
	type fit struct {
		Inner  int `json:"inner"`
		Scroll int `json:"scroll"`
	}
	f := run(b, "measuring "+name, chromedp.Evaluate[fit](
		`({inner: window.innerWidth, scroll: document.documentElement.scrollWidth})`))
	if f.Inner != int(v.width) {
		b.t.Errorf("%s on a %s: laid out %d px wide, want %d (is the viewport meta tag missing?)", name, v.name, f.Inner, v.width)
	}
	if f.Scroll > f.Inner {
		b.t.Errorf("%s on a %s: the page is %d px wide on a %d px screen, and scrolls sideways", name, v.name, f.Scroll, f.Inner)
	}
	shot := run(b, "photographing "+name, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", name, err)
	}
	if img.Bounds().Dx() < int(v.width) {
		b.t.Errorf("screenshot of %s is %d px wide, want at least %d", name, img.Bounds().Dx(), v.width)
	}
	path := filepath.Join(dir, name+"-"+v.name+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("%s", path)
}

func TestAccountPage_Screenshots(t *testing.T) {
	t.Parallel()
	dir := screenshotDir(t)
	w, base := startWebWicket(t, "", "")
	alice := w.newUser("alice", true)
	_, laptop := w.appPassword(alice.name, "Thunderbird on the laptop")
	w.appPassword(alice.name, "iPhone Mail")
	// Used once, so that the list shows when and from where.
	whoamiWants(t, w, "the laptop's app password", alice, laptop, 0)
	bob := w.newUser("bob", false)
	code := invite(t, w, bob.name)
	codes := newStepCodes(t, alice)

	for _, v := range viewports {
		b := newTab(t, base)
		b.emulate(v)

		b.open("/signin")
		b.text("#signin")
		b.shoot(dir, "signin", v)

		// Enrolment is started, not confirmed: the invitation stays good
		// for the next screen size.
		b.startEnrol(bob.name, bob.password, code)
		b.shoot(dir, "enrol", v)

		b.mustSignIn(alice, codes)
		b.shoot(dir, "account", v)

		b.generate("Android phone")
		b.shoot(dir, "new-app-password", v)
		b.open("/account")
		b.revoke(b.idOf("Android phone"))
	}
}
