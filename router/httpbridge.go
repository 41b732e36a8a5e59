package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
)

// bridgeCallTimeout bounds one call through the HTTP caller bridge.
const bridgeCallTimeout = 60 * time.Second

// bridgeRequest is the POST body of crossbar's HTTP bridge services: a
// caller takes procedure, a publisher topic; both take args and kwargs.
type bridgeRequest struct {
	Procedure string         `json:"procedure"`
	Topic     string         `json:"topic"`
	Args      []any          `json:"args"`
	Kwargs    map[string]any `json:"kwargs"`
	Options   map[string]any `json:"options"`
}

// bridgeError is crossbar's error body; a WAMP error of the call or
// publication comes back with status 200, as crossbar does.
type bridgeError struct {
	Error  string         `json:"error"`
	Args   []any          `json:"args"`
	Kwargs map[string]any `json:"kwargs"`
}

// httpBridge serves one caller or publisher path. Each request runs in its
// own in-process session of the path's role, closed when it is answered,
// so the bridge holds no state between requests.
func (s *Server) httpBridge(w WebPath) http.Handler {
	realm := w.Realm
	if realm == "" {
		realm = s.cfg.Realms[0].Name
	}
	limit := int64(w.MaxBody)
	if limit == 0 {
		limit = int64(s.cfg.MaxMessageSize)
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", "POST")
			bridgeReply(rw, http.StatusMethodNotAllowed, bridgeError{Error: "wamp.error.invalid_argument", Args: []any{"the HTTP bridge takes POST requests only"}})
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			bridgeReply(rw, http.StatusBadRequest, bridgeError{Error: "wamp.error.invalid_argument", Args: []any{"bad or missing content type, want application/json"}})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
		if err != nil {
			bridgeReply(rw, http.StatusRequestEntityTooLarge, bridgeError{Error: "wamp.error.invalid_argument", Args: []any{fmt.Sprintf("body larger than %d bytes", limit)}})
			return
		}
		var req bridgeRequest
		if err := json.Unmarshal(body, &req); err != nil {
			bridgeReply(rw, http.StatusBadRequest, bridgeError{Error: "wamp.error.invalid_argument", Args: []any{"body is not a JSON object: " + err.Error()}})
			return
		}
		key, uri := "procedure", req.Procedure
		if w.Type == WebPublisher {
			key, uri = "topic", req.Topic
		}
		if uri == "" {
			bridgeReply(rw, http.StatusBadRequest, bridgeError{Error: "wamp.error.invalid_argument", Args: []any{fmt.Sprintf("the request body has no %q", key)}})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), bridgeCallTimeout)
		defer cancel()
		c, err := s.dial(ctx, realm, "http-bridge", w.Role)
		if err != nil {
			s.log.Error("HTTP bridge session refused", "path", w.Path, "err", err)
			bridgeReply(rw, http.StatusInternalServerError, bridgeError{Error: "wamp.error.runtime_error", Args: []any{"the bridge cannot join the realm"}})
			return
		}
		defer c.Close()
		if w.Type == WebPublisher {
			opts := wamp.Dict{}
			for k, v := range req.Options {
				opts[k] = v
			}
			opts[wamp.OptAcknowledge] = true
			if err := c.Publish(uri, opts, wamp.List(req.Args), wamp.Dict(req.Kwargs)); err != nil {
				bridgeReply(rw, http.StatusOK, wampError(err))
				return
			}
			// nexus's client does not hand out the publication id that
			// PUBLISHED carries; a fresh id keeps crossbar's answer shape.
			bridgeReply(rw, http.StatusOK, map[string]any{"id": wamp.GlobalID()})
			return
		}
		res, err := c.Call(ctx, uri, nil, wamp.List(req.Args), wamp.Dict(req.Kwargs), nil)
		if err != nil {
			bridgeReply(rw, http.StatusOK, wampError(err))
			return
		}
		out := map[string]any{"args": nonNilList(res.Arguments)}
		if len(res.ArgumentsKw) > 0 {
			out["kwargs"] = res.ArgumentsKw
		}
		bridgeReply(rw, http.StatusOK, out)
	})
}

// wampError turns a call's or publication's error into crossbar's body.
func wampError(err error) bridgeError {
	var rpc client.RPCError
	if errors.As(err, &rpc) && rpc.Err != nil {
		return bridgeError{Error: string(rpc.Err.Error), Args: nonNilList(rpc.Err.Arguments), Kwargs: nonNilDict(rpc.Err.ArgumentsKw)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return bridgeError{Error: string(wamp.ErrCanceled), Args: []any{"timed out"}, Kwargs: map[string]any{}}
	}
	// nexus reports a refused publication as a plain error naming the URI.
	uri := "wamp.error.runtime_error"
	if m := errorURIRE.FindString(err.Error()); m != "" {
		uri = m
	}
	return bridgeError{Error: uri, Args: []any{err.Error()}, Kwargs: map[string]any{}}
}

var errorURIRE = regexp.MustCompile(`wamp\.error\.[a-z_]+`)

func nonNilList(l wamp.List) []any {
	if l == nil {
		return []any{}
	}
	return l
}

func nonNilDict(d wamp.Dict) map[string]any {
	if d == nil {
		return map[string]any{}
	}
	return d
}

func bridgeReply(w http.ResponseWriter, status int, v any) {
	if e, ok := v.(bridgeError); ok {
		e.Args, e.Kwargs = nonNilList(e.Args), nonNilDict(e.Kwargs)
		v = e
	}
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"wamp.error.runtime_error","args":["result is not JSON"],"kwargs":{}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
