package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"
)

// consoleFiles is the web console: plain HTML, CSS and JavaScript, with no
// build step, compiled into the binary so every node serves the same one.
//
//go:embed console
var consoleFiles embed.FS

// routeConsole serves the console at / and its files under /_console/
// (names starting with _ are not objects'), with its sign-in at
// /_console/session (session.go). It lets pages read the status of every
// node: the console's cluster panel polls each member's /_cluster/status,
// with the console's cookie when the page is another member's (the only
// pages whose cookie counts), and sign in on the members of its host.
func (s *Server) routeConsole(e *echo.Echo) {
	files, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic("api: console files: " + err.Error()) // the embed above names the directory
	}
	static := http.StripPrefix("/_console/", http.FileServer(http.FS(files)))
	e.GET("/", func(c echo.Context) error {
		b, err := fs.ReadFile(files, "index.html")
		if err != nil {
			return errInternal
		}
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.HTMLBlob(http.StatusOK, b)
	})
	e.GET("/_console/*", echo.WrapHandler(static))
	e.GET("/_console/session", s.getSession)
	e.POST("/_console/session", s.signIn)
	e.DELETE("/_console/session", s.signOut)
	e.OPTIONS("/_console/session", s.sessionPreflight)
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			status := c.Path() == "/_cluster/status"
			signIn := c.Path() == "/_console/session" && c.Request().Method != http.MethodGet
			if status || signIn {
				h := c.Response().Header()
				h.Add("Vary", "Origin")
				if origin := c.Request().Header.Get("Origin"); origin != "" && s.memberOrigin(c.Request(), origin) {
					h.Set("Access-Control-Allow-Origin", origin)
					h.Set("Access-Control-Allow-Credentials", "true")
				} else if status {
					h.Set("Access-Control-Allow-Origin", "*")
				}
			}
			return next(c)
		}
	})
}
