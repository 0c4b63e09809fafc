package console

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/stskms/stskms/internal/role"
)

// Period is the time a chart spans: Steps steps of Step, the last one
// holding now, aligned in UTC.
type Period struct {
	Name  string // in the query: period=Name
	Title string // for people: "the last 24 hours, by hour"
	Step  time.Duration
	Steps int
}

// Periods are the periods a chart page offers; the first is the default.
var Periods = []Period{
	{Name: "24h", Title: "the last 24 hours, by hour (UTC)", Step: time.Hour, Steps: 24},
	{Name: "30d", Title: "the last 30 days, by day (UTC)", Step: 24 * time.Hour, Steps: 30},
}

// Period returns the period the query names (period=24h|30d), or the
// first of Periods.
func (q Query) Period() Period {
	for _, p := range Periods {
		if p.Name == q.Get("period") {
			return p
		}
	}
	return Periods[0]
}

// Start is the start of the period's first step when it ends with the
// step holding now.
func (p Period) Start(now time.Time) time.Time {
	return now.UTC().Truncate(p.Step).Add(-time.Duration(p.Steps-1) * p.Step)
}

// Chart is a time chart: one value per step of its period for each of its
// series. It draws itself as SVG (gonum.org/v1/plot) and lists the same
// numbers as rows of a table, the chart's text alternative.
type Chart struct {
	Title  string // what is counted: "Tokens issued"
	Unit   string // of the values: "tokens", "seconds"
	Period Period
	Start  time.Time // the first step's start (UTC)
	Series []*Series
	// Decimals is how many digits after the point the table shows.
	Decimals int
}

// Series is one line of a chart: its name and a value per step.
type Series struct {
	Name   string
	Values []float64
}

// NewChart returns an empty chart of the period p ending now.
func NewChart(title, unit string, p Period, now time.Time) *Chart {
	return &Chart{Title: title, Unit: unit, Period: p, Start: p.Start(now)}
}

// Line returns the series called name, added (all zero) if new.
func (c *Chart) Line(name string) *Series {
	for _, s := range c.Series {
		if s.Name == name {
			return s
		}
	}
	s := &Series{Name: name, Values: make([]float64, c.Period.Steps)}
	c.Series = append(c.Series, s)
	return s
}

// Step returns the index of the step holding t, and false if t is outside
// the period.
func (c *Chart) Step(t time.Time) (int, bool) {
	if t.Before(c.Start) {
		return 0, false
	}
	i := int(t.Sub(c.Start) / c.Period.Step)
	return i, i < c.Period.Steps
}

// Count adds 1 to the series name at the step holding t, if t is in the
// period.
func (c *Chart) Count(name string, t time.Time) {
	if i, ok := c.Step(t); ok {
		c.Line(name).Values[i]++
	}
}

// ChartRow is one step of a chart's table: its start and a formatted value
// of each series.
type ChartRow struct {
	Time  time.Time
	Cells []string
}

// Rows are the chart's numbers, one row per step, oldest first.
func (c *Chart) Rows() []ChartRow {
	rows := make([]ChartRow, c.Period.Steps)
	for i := range rows {
		rows[i].Time = c.Start.Add(time.Duration(i) * c.Period.Step)
		for _, s := range c.Series {
			rows[i].Cells = append(rows[i].Cells, strconv.FormatFloat(s.Values[i], 'f', c.Decimals, 64))
		}
	}
	return rows
}

// Chart size, in points.
const chartWidth, chartHeight = 720, 260

// SVG draws the chart: a line per series over the period's steps, times in
// UTC, with a legend. A chart without series says "none" in its title.
func (c *Chart) SVG() ([]byte, error) {
	p := plot.New()
	p.Title.Text = c.Title + ", " + c.Period.Title
	p.X.Label.Text = "UTC"
	p.Y.Label.Text = c.Unit
	p.Y.Min = 0
	p.X.Tick.Marker = c.ticks()
	if c.Decimals == 0 {
		p.Y.Tick.Marker = wholeTicks{}
	}
	p.X.Min = float64(c.Start.Unix())
	p.X.Max = float64(c.Start.Add(time.Duration(c.Period.Steps-1) * c.Period.Step).Unix())
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	if len(c.Series) == 0 {
		p.Title.Text += ": none"
		p.Y.Max = 1
	}
	for i, s := range c.Series {
		if err := c.addLine(p, i, s); err != nil {
			return nil, err
		}
	}
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		st.Font.Variant = "Sans" // as the console's pages
	}
	canvas := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(canvas))
	var b bytes.Buffer
	if _, err := canvas.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("console: chart %q: %w", c.Title, err)
	}
	return b.Bytes(), nil
}

// ticks mark every step of the x axis and label about eight of them.
func (c *Chart) ticks() plot.ConstantTicks {
	format := "15:04"
	if c.Period.Step >= 24*time.Hour {
		format = "Jan 02"
	}
	every := max(1, c.Period.Steps/8)
	ticks := make(plot.ConstantTicks, c.Period.Steps)
	for i := range ticks {
		t := c.Start.Add(time.Duration(i) * c.Period.Step)
		ticks[i].Value = float64(t.Unix())
		if i%every == 0 {
			ticks[i].Label = t.Format(format)
		}
	}
	return ticks
}

// wholeTicks are the default ticks of an axis of counts but those between
// whole numbers, labelled without decimals.
type wholeTicks struct{}

// Ticks implements plot.Ticker.
func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = strconv.FormatFloat(t.Value, 'f', 0, 64)
		}
		out = append(out, t)
	}
	return out
}

// addLine adds series s, the i-th, to p.
func (c *Chart) addLine(p *plot.Plot, i int, s *Series) error {
	xys := make(plotter.XYs, len(s.Values))
	for j, v := range s.Values {
		xys[j] = plotter.XY{X: float64(c.Start.Add(time.Duration(j) * c.Period.Step).Unix()), Y: v}
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("console: chart %q: %w", c.Title, err)
	}
	line.Color, line.Dashes = plotutil.Color(i), plotutil.Dashes(i)
	line.Width = vg.Points(1.5)
	points.Color, points.Shape = plotutil.Color(i), plotutil.Shape(i)
	p.Add(line, points)
	p.Legend.Add(s.Name, line, points)
	return nil
}

// PageChart is a chart a page shows, served as SVG at
// /console/charts/NAME.svg (the page's query, such as its period, passed
// on) to whoever may read the page.
type PageChart struct {
	// Name is one lower-case word, unique in the site.
	Name string
	// Chart reads the chart for a, as q asks.
	Chart func(ctx context.Context, a role.Actor, q Query) (*Chart, error)
}

// siteChart is a PageChart and the page it belongs to.
type siteChart struct {
	PageChart
	page *sitePage
}

// addCharts registers p's charts.
func (s *Server) addCharts(p *sitePage) error {
	for _, c := range p.Charts {
		if !validPath(c.Name) || c.Chart == nil {
			return fmt.Errorf("console: page %q: chart %q needs a lower-case name and Chart", p.Path, c.Name)
		}
		if _, dup := s.charts[c.Name]; dup {
			return fmt.Errorf("console: two charts called %q", c.Name)
		}
		s.charts[c.Name] = &siteChart{PageChart: c, page: p}
	}
	return nil
}

// chartCSP is the Content-Security-Policy of a chart: an SVG image that
// styles its text and lines with style attributes and runs no script.
const chartCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"

// chart serves one of the site's charts as SVG, to a person who may read
// its page.
func (s *Server) chart(w http.ResponseWriter, r *http.Request, sess *session) {
	name, ok := strings.CutSuffix(r.PathValue("name"), ".svg")
	c := s.charts[name]
	if !ok || c == nil {
		s.notFound(w, r)
		return
	}
	if c.page.Op != "" && !s.allow(w, r, sess, c.page.Op) {
		return
	}
	ch, err := c.Chart(r.Context(), sess.actor(), Query{r.URL.Query()})
	if err != nil {
		s.failed(w, r, err)
		return
	}
	svg, err := ch.SVG()
	if err != nil {
		s.failed(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", chartCSP)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(svg)
}

// ChartSet is what a page of charts shows: the period chosen, the periods
// offered, and each chart with its numbers. The template "charts" shows it.
type ChartSet struct {
	Period  Period
	Periods []Period
	Charts  []NamedChart
}

// NamedChart is a chart and the name it is served under.
type NamedChart struct {
	Name string
	*Chart
}

// ChartsOf reads charts for a as q asks: a page's Data when the page shows
// its charts and their numbers.
func ChartsOf(ctx context.Context, a role.Actor, q Query, charts []PageChart) (*ChartSet, error) {
	set := &ChartSet{Period: q.Period(), Periods: Periods}
	for _, pc := range charts {
		c, err := pc.Chart(ctx, a, q)
		if err != nil {
			return nil, err
		}
		set.Charts = append(set.Charts, NamedChart{Name: pc.Name, Chart: c})
	}
	return set, nil
}

// ChartsPage returns a page at path that shows charts and their numbers
// with the period choice, to whoever the site's Allow grants op.
func ChartsPage(path, title, op string, charts ...PageChart) Page {
	return Page{Path: path, Title: title, Op: op, Template: `{{define "content"}}{{template "charts" .Data}}{{end}}`,
		Charts: charts,
		Data: func(ctx context.Context, a role.Actor, q Query) (any, error) {
			return ChartsOf(ctx, a, q, charts)
		}}
}
