// Package htmltest checks the HTML report in a real headless Chromium
// (Debian's chromium, driven with chromedp). It holds only tests; they keep
// a screenshot in _out/artifacts at the repository root.
package htmltest
