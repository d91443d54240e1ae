package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/watch"
)

// watch streams newline-delimited JSON events. Without resourceVersion (or
// with "0") it first sends the current objects as ADDED events, then the
// changes after them; with resourceVersion=N it sends every change after N.
func (h *Handler) watch(w http.ResponseWriter, r *http.Request, t target, visible func(*api.Object) bool) {
	ctx := r.Context()
	opts, err := listQuery(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if s := r.URL.Query().Get("timeoutSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			h.writeError(w, r, errdefs.BadRequestf("timeoutSeconds", "must be a positive integer, got %q", s))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Second)
		defer cancel()
	}
	var initial []*api.Object
	var after int64
	switch opts.ResourceVersion {
	case "", "0":
		list, err := h.cfg.Service.List(ctx, t.res, api.ListOptions{LabelSelector: opts.LabelSelector})
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		initial, after = list.Items, list.Revision
	default:
		if after, err = strconv.ParseInt(opts.ResourceVersion, 10, 64); err != nil || after < 0 {
			h.writeError(w, r, errdefs.BadRequestf("resourceVersion", "%q is not a resource version", opts.ResourceVersion))
			return
		}
	}
	sub, err := h.cfg.Service.Watch(ctx, t.res, opts.LabelSelector, after)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer sub.Stop()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	var line bytes.Buffer
	send := func(typ api.EventType, object []byte) error {
		line.Reset()
		line.WriteString(`{"type":"`)
		line.WriteString(string(typ))
		line.WriteString(`","object":`)
		line.Write(object)
		line.WriteString("}\n")
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	for _, obj := range initial {
		if visible != nil && !visible(obj) {
			continue
		}
		b, err := json.Marshal(obj)
		if err != nil || send(api.Added, b) != nil {
			return
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	bookmarks := time.NewTicker(h.cfg.BookmarkEvery)
	defer bookmarks.Stop()
	for {
		ev, err := sub.Next(ctx, bookmarks.C)
		switch {
		case errors.Is(err, store.ErrWatcherTooSlow):
			st, _ := json.Marshal(api.StatusFromError(err))
			_ = send("ERROR", st)
			return
		case err != nil:
			return // client gone, timeout, or server shutting down
		}
		if visible != nil && ev.Type != api.Bookmark {
			obj, err := store.DecodeEvent(ev)
			if err != nil || !visible(obj) {
				continue
			}
		}
		if err := send(ev.Type, eventObject(t.res, ev)); err != nil {
			return
		}
	}
}

func eventObject(res *api.Resource, ev watch.Event) []byte {
	if ev.Type != api.Bookmark {
		return ev.Object
	}
	b, _ := json.Marshal(api.Object{Kind: res.Kind, APIVersion: api.Version,
		Metadata: api.ObjectMeta{ResourceVersion: strconv.FormatInt(ev.Revision, 10)}})
	return b
}
