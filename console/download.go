package console

import (
	"mime"
	"net/http"
	"strconv"

	"github.com/stskms/stskms/audit"
)

// File is what an Action's Download answers: a file the browser saves
// rather than shows.
type File struct {
	Name string // the name to save it as ("checkpoint-42.txt")
	Type string // its media type ("text/plain; charset=utf-8")
	Body []byte
}

// download runs a's Download for a signed-in person whose form and role
// the console has checked, audits it with the person's name
// (console.download, the page and action, the file's name and size) and
// answers the file as an attachment. An error is answered as an action's.
func (s *Server) download(w http.ResponseWriter, r *http.Request, sess *session, p *sitePage, a *Action) {
	f, err := a.Download(r.Context(), Call{Actor: sess.actor(), Form: r.PostForm})
	if err != nil {
		s.refusedAction(w, r, sess, p, a.Op, err)
		return
	}
	if _, err := s.st.log.AppendNow(r.Context(), audit.Entry{Actor: sess.actor().String(), Action: "console.download",
		Subject: p.Path + "/" + a.Name, Details: map[string]any{"file": f.Name, "bytes": len(f.Body)}}); err != nil {
		s.failed(w, r, err)
		return
	}
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": f.Name})
	if disposition == "" {
		disposition = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", f.Type)
	h.Set("Content-Disposition", disposition)
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(http.StatusOK)
	w.Write(f.Body)
}
