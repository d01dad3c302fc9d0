package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's Chromium. Without it the browser tests skip,
// unless CI is set: CI must run them (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but Chromium is not installed: the console's browser tests must run in CI (apt-get install chromium)")
	}
	t.Skip("skipping the console's browser tests: Chromium is not installed (Debian: apt-get install chromium)")
	return ""
}

// browser is one headless Chromium for the whole test, with what its
// pages did that no page may do: open a dialog, write an error to the
// console (a CSP violation is one), throw.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	dialogs  []string
	problems []string
}

func newBrowser(t *testing.T) *browser {
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	b := &browser{ctx: ctx}
	// Start the browser (without a timeout: it lives as long as ctx).
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

func get[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// waitURL waits for the page's URL to contain want (a form's navigation).
func (b *browser) waitURL(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if loc := get(t, b, chromedp.Evaluate[string](`location.href`)); strings.Contains(loc, want) {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the page is still %s, want a URL with %q", loc, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clean asserts that no page opened a dialog, set window.__pwned or
// logged an error since the last call.
func (b *browser) clean(t *testing.T) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // let the last events arrive
	assert.False(t, get(t, b, chromedp.Evaluate[bool](`window.__pwned !== undefined`)), "a stored payload ran script")
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Empty(t, b.dialogs, "a page opened a dialog")
	assert.Empty(t, b.problems, "a page logged an error")
	b.dialogs, b.problems = nil, nil
}

// consolePages are the pages the browser opens, with what shows that
// each one rendered.
var consolePages = []struct{ name, path, ready string }{
	{"overview", "/", `[data-chart="events"][data-drawn="true"]`},
	{"events", "/events", "#events tbody tr"},
	{"event", "/events/%d?explain=1", ".delivery"},
	{"deliveries", "/deliveries", "#deliveries tbody tr"},
	{"chats", "/chats", "#awaiting"},
	{"rules", "/rules", "#reload"},
	{"playground", "/playground?event=%d", "#payload"},
	{"destinations", "/destinations", "#dest-good"},
}

func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t, 600)
	var image int64 // an event with a dead letter
	for id, m := range f.meta {
		if m.typ == "image" && (image == 0 || id > image) {
			image = id
		}
	}
	shots := os.Getenv("SWITCHBOARD_SCREENSHOTS") != ""

	t.Run("login", func(t *testing.T) {
		b.do(t, chromedp.Navigate(f.base+"/events"),
			chromedp.WaitVisible("#token"),
			chromedp.SendKeys("#token", adminToken),
			chromedp.Submit("#token"),
			chromedp.WaitVisible("#events"))
		assert.Equal(t, "Events · Switchboard", get(t, b, chromedp.Title()), "back to the page asked for")
		b.clean(t)
	})

	t.Run("every page", func(t *testing.T) {
		for _, p := range consolePages {
			path := p.path
			if strings.Contains(path, "%d") {
				path = fmt.Sprintf(path, image)
			}
			t.Run(p.name, func(t *testing.T) {
				b.do(t, chromedp.Navigate(f.base+path), chromedp.WaitVisible(p.ready))
				assert.NotEmpty(t, get(t, b, chromedp.Text("h1")))
				b.clean(t)
			})
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		b.do(t, chromedp.Navigate(f.base+"/events"), chromedp.WaitVisible("#events"), chromedp.KeyEvent(kb.Tab))
		assert.Equal(t, "skip", get(t, b, chromedp.Evaluate[string](`document.activeElement.className`)), "the first Tab reaches the skip link")
		b.do(t, chromedp.KeyEvent(kb.Enter))
		assert.Equal(t, "main", get(t, b, chromedp.Evaluate[string](`document.activeElement.id`)), "the skip link moves the focus to the content")
	})

	t.Run("filter events", func(t *testing.T) {
		b.do(t, chromedp.Navigate(f.base+"/events"), chromedp.WaitVisible("#events"),
			chromedp.SetValue(`select[name="direction"]`, "sent"),
			chromedp.SetValue(`input[name="type"]`, "chat"),
			chromedp.Click(`.filters button[type="submit"]`))
		b.waitURL(t, "direction=sent")
		b.do(t, chromedp.WaitVisible(`#events`))
		dirs := get(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#events tbody tr td:nth-child(4)")).map(td => td.textContent.trim())`))
		require.Len(t, dirs, 50)
		for _, d := range dirs {
			assert.Equal(t, "sent", d)
		}
		b.clean(t)
	})

	t.Run("replay a dead letter", func(t *testing.T) {
		b.do(t, chromedp.Navigate(f.base+"/deliveries?destination=bad"), chromedp.WaitVisible("#deliveries"))
		id := get(t, b, chromedp.Evaluate[string](`document.querySelector('#deliveries input[name="id"]').value`))
		require.NotEmpty(t, id)
		require.Equal(t, "dead", get(t, b, chromedp.Text("#delivery-"+id+" .state")))
		f.badOK.Store(true)
		defer f.badOK.Store(false)
		b.do(t, chromedp.Click(`#deliveries input[value="`+id+`"]`), chromedp.Click("#replay-selected"),
			chromedp.WaitVisible("#progress"))
		// The table refreshes itself while the replay runs.
		state := ""
		for deadline := time.Now().Add(20 * time.Second); state != "done" && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			state = get(t, b, chromedp.Text("#delivery-"+id+" .state"))
		}
		assert.Equal(t, "done", state)
		b.do(t, chromedp.WaitVisible("#progress .finished"))
		b.clean(t)
	})

	t.Run("playground", func(t *testing.T) {
		sample, err := os.ReadFile("testdata/received-chat.json")
		require.NoError(t, err)
		b.do(t, chromedp.Navigate(f.base+"/playground"), chromedp.WaitVisible("#payload"),
			chromedp.SetValue("#payload", string(sample)),
			chromedp.Click("#run"),
			chromedp.WaitVisible("#result"))
		assert.Contains(t, get(t, b, chromedp.Text("#matched")), "chats-to-good")
		text := get(t, b, chromedp.Text("#dryrun-text"))
		assert.Contains(t, text, "Manchester", "the rendered request")
		assert.Contains(t, text, "Bearer ***")
		assert.NotContains(t, text, secret)
		b.clean(t)
	})

	t.Run("hostile payloads", func(t *testing.T) {
		for i, h := range hostile {
			b.do(t, chromedp.Navigate(f.base+"/events?chat="+strings.ReplaceAll(chatID(i), "@", "%40")), chromedp.WaitVisible("#events"))
			titles := get(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#events .title")).map(e => e.textContent)`))
			require.NotEmpty(t, titles)
			for _, got := range titles {
				assert.Equal(t, h, got, "shown literally")
			}
			var hostileID int64
			for id, m := range f.meta {
				if m.chat == i {
					hostileID = id
					break
				}
			}
			b.do(t, chromedp.Navigate(fmt.Sprintf("%s/events/%d", f.base, hostileID)), chromedp.WaitVisible(".facts"))
			assert.Equal(t, h, get(t, b, chromedp.TextContent(".facts .title")))
			b.clean(t)
		}
		b.do(t, chromedp.Navigate(f.base+"/chats"), chromedp.WaitVisible("#awaiting"))
		assert.Zero(t, get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("main script, main img, main svg").length`)), "no element came from a payload")
		assert.Zero(t, get(t, b, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("*")).filter(e => Array.from(e.attributes).some(a => a.name.startsWith("on"))).length`)))
		assert.Zero(t, get(t, b, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("a[href]")).filter(a => a.protocol === "javascript:").length`)))
		b.clean(t)
	})

	t.Run("screenshots", func(t *testing.T) {
		if !shots {
			t.Skip("set SWITCHBOARD_SCREENSHOTS=1 to write docs/screenshots/")
		}
		dir := filepath.Join("..", "..", "docs", "screenshots")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, width := range []int64{1280, 390} {
			for _, p := range consolePages {
				path := p.path
				if strings.Contains(path, "%d") {
					path = fmt.Sprintf(path, image)
				}
				vp := []chromedp.EmulateViewportOption{}
				if width < 500 {
					vp = append(vp, chromedp.EmulateMobile, chromedp.EmulatePortrait)
				}
				b.do(t, chromedp.EmulateViewport(width, 900, vp...),
					chromedp.Navigate(f.base+path), chromedp.WaitVisible(p.ready), chromedp.Sleep(300*time.Millisecond))
				png := get(t, b, chromedp.CaptureScreenshot()) // the first screenful
				require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", p.name, width)), png, 0o644))
			}
		}
		b.do(t, chromedp.ResetViewport())
	})
}
