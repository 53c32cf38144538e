package project

// rawFile is a configuration file as decoded, before validation. Decoding
// is strict: a member it does not list is an error. The wrangler fields
// dobj accepts and ignores are listed (as any) so that files written for
// Cloudflare load unchanged; ignoredFields names them for the warnings.
type rawFile struct {
	Name               string         `toml:"name" json:"name"`
	Main               string         `toml:"main" json:"main"`
	CompatibilityDate  string         `toml:"compatibility_date" json:"compatibility_date"`
	CompatibilityFlags []string       `toml:"compatibility_flags" json:"compatibility_flags"`
	Vars               map[string]any `toml:"vars" json:"vars"`
	DurableObjects     struct {
		Bindings []DurableObjectBinding `toml:"bindings" json:"bindings"`
	} `toml:"durable_objects" json:"durable_objects"`
	Migrations []Migration      `toml:"migrations" json:"migrations"`
	Services   []ServiceBinding `toml:"services" json:"services"`
	// Routes' entries and Route are a pattern string or a table; validate
	// converts them.
	Routes []any             `toml:"routes" json:"routes"`
	Route  any               `toml:"route" json:"route"`
	Define map[string]string `toml:"define" json:"define"`
	Alias  map[string]string `toml:"alias" json:"alias"`

	Schema            any `toml:"$schema" json:"$schema"`
	AccountID         any `toml:"account_id" json:"account_id"`
	WorkersDev        any `toml:"workers_dev" json:"workers_dev"`
	PreviewURLs       any `toml:"preview_urls" json:"preview_urls"`
	Observability     any `toml:"observability" json:"observability"`
	Placement         any `toml:"placement" json:"placement"`
	Minify            any `toml:"minify" json:"minify"`
	KeepNames         any `toml:"keep_names" json:"keep_names"`
	UploadSourceMaps  any `toml:"upload_source_maps" json:"upload_source_maps"`
	SendMetrics       any `toml:"send_metrics" json:"send_metrics"`
	KeepVars          any `toml:"keep_vars" json:"keep_vars"`
	Logpush           any `toml:"logpush" json:"logpush"`
	Limits            any `toml:"limits" json:"limits"`
	Dev               any `toml:"dev" json:"dev"`
	Tsconfig          any `toml:"tsconfig" json:"tsconfig"`
	Build             any `toml:"build" json:"build"`
	Env               any `toml:"env" json:"env"`
	UsageModel        any `toml:"usage_model" json:"usage_model"`
	NodeCompat        any `toml:"node_compat" json:"node_compat"`
	FirstPartyWorker  any `toml:"first_party_worker" json:"first_party_worker"`
	PreserveFileNames any `toml:"preserve_file_names" json:"preserve_file_names"`
}

// ignoredFields are the top-level wrangler fields rawFile accepts and dobj
// ignores: deployment and tooling settings of Cloudflare's that change
// nothing of what the script does (env: dobj deploys the top level, as
// wrangler does without --env).
var ignoredFields = []string{
	"$schema", "account_id", "workers_dev", "preview_urls", "observability",
	"placement", "minify", "keep_names", "upload_source_maps", "send_metrics",
	"keep_vars", "logpush", "limits", "dev", "tsconfig", "build", "env",
	"usage_model", "node_compat", "first_party_worker", "preserve_file_names",
}

// unsupportedFields are top-level wrangler fields a script would depend on
// that dobj does not provide: refused by name rather than as unknown.
var unsupportedFields = []string{
	"kv_namespaces", "r2_buckets", "d1_databases", "queues", "vectorize",
	"analytics_engine_datasets", "ai", "hyperdrive", "browser", "assets",
	"site", "workflows", "triggers", "tail_consumers", "dispatch_namespaces",
	"mtls_certificates", "send_email", "unsafe", "version_metadata", "images",
	"secrets_store_secrets", "pipelines", "wasm_modules", "text_blobs",
	"data_blobs", "rules", "find_additional_modules", "base_dir", "no_bundle",
	"jsx_factory", "jsx_fragment",
}
