package project

// Class is a Durable Object class of the project once all its migrations
// have applied.
type Class struct {
	Name string
	// SQLite is true for a class created by new_sqlite_classes.
	SQLite bool
	// CreatedAs is the name the class was created under: its Name unless a
	// migration renamed it. Its objects' namespace (objects.NewNamespace)
	// keeps this name, so that ids survive the rename.
	CreatedAs string
	// Tag is the tag of the migration that created the class.
	Tag string
}

// Classes are the project's Durable Object classes after every migration,
// in the order they were created. A project without migrations has none.
func (c *Config) Classes() []Class {
	classes, _, _ := c.replay()
	return classes
}

// replay applies the migrations in order, returning the classes left,
// where each class absent at the end was last deleted, and the first
// inconsistent step (creating a class that exists, renaming or deleting
// one that does not, a missing or repeated tag).
func (c *Config) replay() ([]Class, map[string]field, error) {
	var classes []Class
	deleted := map[string]field{}
	find := func(name string) int {
		for i, cl := range classes {
			if cl.Name == name {
				return i
			}
		}
		return -1
	}
	tags := map[string]bool{}
	for i, m := range c.Migrations {
		f := field{"migrations", i}
		if m.Tag == "" {
			return nil, nil, c.errorAt(f.at("tag"), "missing: every migration needs a tag")
		}
		if tags[m.Tag] {
			return nil, nil, c.errorAt(f.at("tag"), "tag %q is used by an earlier migration", m.Tag)
		}
		tags[m.Tag] = true
		for _, list := range []struct {
			key    string
			names  []string
			sqlite bool
		}{{"new_classes", m.NewClasses, false}, {"new_sqlite_classes", m.NewSQLiteClasses, true}} {
			for j, name := range list.names {
				if !isIdentifier(name) {
					return nil, nil, c.errorAt(f.at(list.key).at(j), "%q is not a JavaScript class name", name)
				}
				if find(name) >= 0 {
					return nil, nil, c.errorAt(f.at(list.key).at(j), "class %s already exists", name)
				}
				classes = append(classes, Class{Name: name, SQLite: list.sqlite, CreatedAs: name, Tag: m.Tag})
			}
		}
		for j, r := range m.RenamedClasses {
			rf := f.at("renamed_classes").at(j)
			k := find(r.From)
			switch {
			case k < 0:
				return nil, nil, c.errorAt(rf.at("from"), "no class %q to rename", r.From)
			case !isIdentifier(r.To):
				return nil, nil, c.errorAt(rf.at("to"), "%q is not a JavaScript class name", r.To)
			case find(r.To) >= 0:
				return nil, nil, c.errorAt(rf.at("to"), "class %s already exists", r.To)
			}
			classes[k].Name = r.To
		}
		for j, name := range m.DeletedClasses {
			k := find(name)
			if k < 0 {
				return nil, nil, c.errorAt(f.at("deleted_classes").at(j), "no class %q to delete", name)
			}
			deleted[name] = f.at("deleted_classes").at(j)
			classes = append(classes[:k], classes[k+1:]...)
		}
		for j, r := range m.RenamedClasses {
			deleted[r.From] = f.at("renamed_classes").at(j).at("from")
		}
	}
	return classes, deleted, nil
}

// checkMigrations replays the migrations and checks that each class this
// project binds exists after them (when there are migrations: a project
// without any, as wrangler dev allows, gets its bound classes implicitly).
func (c *Config) checkMigrations(*rawFile) error {
	classes, deleted, err := c.replay()
	if err != nil || len(c.Migrations) == 0 {
		return err
	}
	for i, b := range c.DurableObjects {
		if b.ScriptName != "" {
			continue
		}
		found := false
		for _, cl := range classes {
			found = found || cl.Name == b.ClassName
		}
		if at, ok := deleted[b.ClassName]; ok && !found {
			return c.errorAt(at, "class %s is deleted (or renamed away) but durable_objects.bindings[%d] (%s) still binds it",
				b.ClassName, i, b.Name)
		}
		if !found {
			return c.errorAt(field{"durable_objects", "bindings", i, "class_name"},
				"class %s is created by no migration (add it to new_sqlite_classes or new_classes)", b.ClassName)
		}
	}
	return nil
}
