package api

import (
	"context"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/objects"
)

// The fake node hosts no script objects.

func (f *fakeNode) ResolveScriptClass(script, class string) (string, objects.Namespace, error) {
	return "", objects.Namespace{}, host.ErrClassNotFound
}

func (f *fakeNode) RPC(context.Context, string, classes.StubID, string, []byte, string) (*classes.RPCResult, error) {
	return nil, host.ErrClassNotFound
}

func (f *fakeNode) QuerySQL(string, string, host.SQLQuery) (*host.SQLAnswer, error) {
	return nil, host.ErrClassNotFound
}

func (f *fakeNode) SQLObjects(string, string, int) ([]host.SQLObject, bool, error) {
	return nil, false, nil
}
