package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/internal/procstat"
)

// vmServer is a VictoriaMetrics single-node server started for the
// side-by-side measurement, on a loopback port with its own data
// directory.
type vmServer struct {
	cmd  *exec.Cmd
	base string
	dir  string
	http *http.Client
}

// startVM starts the binary at path and waits until it answers.
func startVM(ctx context.Context, path string) (*vmServer, error) {
	dir, err := os.MkdirTemp("", "telemesh-bench-vm-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(path, "-storageDataPath="+dir, "-httpListenAddr="+addr, "-retentionPeriod=100y",
		"-search.maxPointsPerTimeseries=1000000", "-search.disableCache", "-loggerLevel=ERROR")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	v := &vmServer{cmd: cmd, base: "http://" + addr, dir: dir, http: &http.Client{Timeout: 5 * time.Minute}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := v.http.Get(v.base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return v, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			v.stop()
			return nil, fmt.Errorf("victoria-metrics did not answer on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *vmServer) stop() {
	if v.cmd.Process != nil {
		v.cmd.Process.Kill()
		v.cmd.Wait()
	}
	os.RemoveAll(v.dir)
}

// cpu returns the server's CPU time so far, from /proc.
func (v *vmServer) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", v.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

// rss returns the server's resident and peak memory in MiB.
func (v *vmServer) rss() (float64, float64) {
	m := procstat.Read(v.cmd.Process.Pid)
	return procstat.MiB(m.RSS), procstat.MiB(m.Peak)
}

// importSeconds posts the readings of every field in [first, first+n) seconds.
func (v *vmServer) importSeconds(ctx context.Context, fields int, first, n int64) error {
	var buf bytes.Buffer
	for i := range fields {
		buf.WriteString(`{"metric":{"__name__":"m","field":"`)
		buf.WriteString(benchdata.Name(i))
		buf.WriteString(`"},"values":[`)
		for k := range n {
			if k > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.FormatFloat(benchdata.Value(i, first+k), 'g', -1, 64))
		}
		buf.WriteString(`],"timestamps":[`)
		for k := range n {
			if k > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.FormatInt((first+k)*1000, 10))
		}
		buf.WriteString("]}\n")
	}
	resp, err := v.do(ctx, http.MethodPost, "/api/v1/import", &buf)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// do sends a request and returns the response of a 2xx status, or an
// error with the body of another.
func (v *vmServer) do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("victoria-metrics %s %s: %s: %s", method, path, resp.Status, b)
	}
	return resp, nil
}

// settle flushes and merges what VM buffered and returns its data
// directory's size once it stops changing.
func (v *vmServer) settle(ctx context.Context, from, to time.Time) (int64, error) {
	get := func(path string) {
		if resp, err := v.http.Get(v.base + path); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	get("/internal/force_flush")
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
		get("/internal/force_merge?partition_prefix=" + m.Format("2006_01"))
	}
	var last int64 = -1
	for range 60 {
		size, err := dirSize(v.dir)
		if err != nil {
			return 0, err
		}
		if size == last {
			return size, nil
		}
		last = size
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return last, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// queryRange runs an aggregation over buckets of width w ending at end
// and returns the points received.
func (v *vmServer) queryRange(ctx context.Context, selector string, start, end time.Time, w time.Duration) (int, error) {
	ms := w.Milliseconds()
	q := url.Values{
		"query":   {fmt.Sprintf("avg_over_time(%s[%dms])", selector, ms)},
		"start":   {strconv.FormatFloat(float64(start.UnixMilli()+ms)/1000, 'f', 3, 64)},
		"end":     {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":    {strconv.FormatInt(ms, 10) + "ms"},
		"nocache": {"1"},
	}
	var res struct {
		Data struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := v.getJSON(ctx, "/api/v1/query_range?"+q.Encode(), &res); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range res.Data.Result {
		n += len(r.Values)
	}
	return n, nil
}

// export reads the raw samples of a selector in [start, end).
func (v *vmServer) export(ctx context.Context, selector string, start, end time.Time) (int, error) {
	q := url.Values{"match[]": {selector}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix()-1, 10)}}
	resp, err := v.do(ctx, http.MethodGet, "/api/v1/export?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Values     []float64 `json:"values"`
			Timestamps []int64   `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return 0, err
		}
		n += len(line.Values)
	}
	return n, sc.Err()
}

func (v *vmServer) getJSON(ctx context.Context, path string, out any) error {
	resp, err := v.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}
