package console

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestPaletteContrast reads the colours of static/console.css and checks
// the pairs the console draws with against WCAG 2.1 AA: 4.5:1 for text,
// 3:1 for focus rings against what is around them.
func TestPaletteContrast(t *testing.T) {
	css, err := os.ReadFile("static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"white": "#ffffff"}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	for _, c := range []struct {
		fg, bg string
		min    float64
	}{
		{"ink", "paper", 4.5}, {"muted", "paper", 4.5}, {"link", "paper", 4.5}, {"ok", "paper", 4.5},
		{"bad", "paper", 4.5}, {"white", "brand", 4.5}, {"brand", "white", 4.5},
		{"focus", "paper", 3}, {"focus-on-brand", "brand", 3},
	} {
		fg, bg := vars[c.fg], vars[c.bg]
		if fg == "" || bg == "" {
			t.Errorf("console.css defines no --%s or --%s", c.fg, c.bg)
			continue
		}
		if r := contrast(fg, bg); r < c.min {
			t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want %.1f:1 or more", c.fg, fg, c.bg, bg, r, c.min)
		}
	}
}

// contrast is the WCAG 2.1 contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// luminance is the WCAG 2.1 relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}
