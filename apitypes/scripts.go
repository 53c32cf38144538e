package apitypes

import "encoding/json"

// Scripts (issue 20): the JSON of PUT /_scripts/<name>'s metadata part and
// of the answers of the /_scripts routes.

// ScriptMetadata is the `metadata` part of PUT /_scripts/<name>, modelled
// on Cloudflare's multipart script upload.
type ScriptMetadata struct {
	MainModule         string            `json:"main_module"`
	CompatibilityDate  string            `json:"compatibility_date,omitempty"`
	CompatibilityFlags []string          `json:"compatibility_flags,omitempty"`
	Bindings           []ScriptBinding   `json:"bindings,omitempty"`
	Migrations         []ScriptMigration `json:"migrations,omitempty"`
	Routes             []ScriptRoute     `json:"routes,omitempty"`
}

// Binding types of ScriptBinding, as Cloudflare names them.
const (
	BindingDurableObject = "durable_object_namespace"
	BindingService       = "service"
	BindingText          = "plain_text"
	BindingJSON          = "json"
)

// ScriptBinding is one env binding: a Durable Object namespace
// (ClassName, ScriptName), a service (Service, Entrypoint), a plain_text
// var (Text) or a json var (JSON).
type ScriptBinding struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	ClassName  string          `json:"class_name,omitempty"`
	ScriptName string          `json:"script_name,omitempty"`
	Service    string          `json:"service,omitempty"`
	Entrypoint string          `json:"entrypoint,omitempty"`
	Text       string          `json:"text,omitempty"`
	JSON       json.RawMessage `json:"json,omitempty"`
}

// ScriptMigration is one [[migrations]] step. An upload carries every
// step of the project; the server skips the tags the script has applied.
type ScriptMigration struct {
	Tag              string         `json:"tag"`
	NewClasses       []string       `json:"new_classes,omitempty"`
	NewSQLiteClasses []string       `json:"new_sqlite_classes,omitempty"`
	RenamedClasses   []RenamedClass `json:"renamed_classes,omitempty"`
	DeletedClasses   []string       `json:"deleted_classes,omitempty"`
}

// RenamedClass is a class a migration renames.
type RenamedClass struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ScriptRoute is a route of a script's Worker.
type ScriptRoute struct {
	Pattern      string `json:"pattern"`
	ZoneName     string `json:"zone_name,omitempty"`
	CustomDomain bool   `json:"custom_domain,omitempty"`
}

// ScriptClass is a Durable Object class of a deployed script; CreatedAs
// is the name it was created under (its objects' namespace), which a
// rename keeps.
type ScriptClass struct {
	Name      string `json:"name"`
	SQLite    bool   `json:"sqlite"`
	CreatedAs string `json:"created_as"`
	Tag       string `json:"tag"`
}

// Script is a deployed script as GET /_scripts and GET /_scripts/<name>
// show it: never its code or its secrets' values.
type Script struct {
	Name               string          `json:"name"`
	Version            uint64          `json:"version"`
	MainModule         string          `json:"main_module"`
	Modules            []string        `json:"modules"`
	CompatibilityDate  string          `json:"compatibility_date"`
	CompatibilityFlags []string        `json:"compatibility_flags"`
	Classes            []ScriptClass   `json:"classes"`
	MigrationTags      []string        `json:"migration_tags"`
	Bindings           []ScriptBinding `json:"bindings"`
	Routes             []ScriptRoute   `json:"routes"`
}

// ScriptDeployed is the answer of PUT /_scripts/<name>.
type ScriptDeployed struct {
	Script  string        `json:"script"`
	Version uint64        `json:"version"`
	Applied []string      `json:"applied_migrations"`
	Classes []ScriptClass `json:"classes"`
}
