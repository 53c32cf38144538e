package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/dobj/dobj/client"
)

// sqlVerb: dobj sql SCRIPT CLASS NAME QUERY [JSON-PARAM…]. It prints the
// rows as a table under the column names (or the answer's JSON with
// --json), and says when the node left rows out.
func sqlVerb(ctx context.Context, e env, args []string) error {
	var asJSON bool
	var limit int
	pos, c, cf, err := clientVerb(e, "sql", args, 4, 4+100, true, false, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the answer's JSON: columns, rows, rowsRead, more")
		fs.IntVar(&limit, "limit", 0, "at most this many rows (default and most: the node's bound, 1000)")
	})
	if err != nil {
		return helpOK(err)
	}
	q := client.SQLQuery{Query: pos[3], Limit: limit}
	for i, a := range pos[4:] {
		if !json.Valid([]byte(a)) {
			return fmt.Errorf("sql: binding %d is not JSON: %s (a string is written '\"text\"')", i+1, a)
		}
		q.Params = append(q.Params, json.RawMessage(a))
	}
	res, err := c.SQL(ctx, pos[0], pos[1], pos[2], q, client.ReadOptions{Stale: cf.stale})
	if err != nil {
		return problem(cf, err)
	}
	if asJSON {
		return printJSON(e.stdout, res)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = sqlCell(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	more := ""
	if res.More {
		more = "; more rows left out (--limit, or narrow the query)"
	}
	fmt.Fprintf(e.stderr, "%s, %s read%s\n", plural(len(res.Rows), "row"), plural(int(res.RowsRead), "row"), more)
	return nil
}

// sqlCell is a value as a table cell: a string bare, NULL as NULL,
// anything else (numbers, a BLOB's object) as its JSON.
func sqlCell(v json.RawMessage) string {
	if string(v) == "null" {
		return "NULL"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
