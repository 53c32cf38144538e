package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

const (
	headerIndex       = "X-Dobj-Index"
	headerIdempotency = "Idempotency-Key"
)

func setIndex(c echo.Context, index uint64) {
	c.Response().Header().Set(headerIndex, strconv.FormatUint(index, 10))
}

// idempotencyKey is the request's Idempotency-Key ("" without one),
// refused when longer than a storage key may be.
func (s *Server) idempotencyKey(c echo.Context) (string, error) {
	idem := c.Request().Header.Get(headerIdempotency)
	if len(idem) > s.cfg.MaxKeyBytes {
		return "", badRequest("Idempotency-Key is longer than %d bytes", s.cfg.MaxKeyBytes)
	}
	return idem, nil
}

// propose writes txn to object through the node (which takes it to the
// leader). Errors other than the known ones become ErrOutcomeUnknown: a
// write that failed for an unforeseen reason may still have been applied.
func (s *Server) propose(c echo.Context, object string, txn objects.Txn) (objects.TxnResult, error) {
	idem, err := s.idempotencyKey(c)
	if err != nil {
		return objects.TxnResult{}, err
	}
	if err := s.limits.Validate(object, txn); err != nil {
		return objects.TxnResult{}, err
	}
	res, index, err := s.node.Write(c.Request().Context(), object, txn, idem)
	if err != nil {
		if index > 0 { // a domain failure: the command was applied, as a no-op
			setIndex(c, index)
		}
		return res, writeFailed(err)
	}
	setIndex(c, index)
	return res, nil
}

// writeFailed sorts the failure of a write (or a membership change): an
// error the status table does not know may have left the command applied.
func writeFailed(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrBadMember),
		errors.Is(err, objects.ErrConflict), errors.Is(err, objects.ErrInvalid), errors.Is(err, objects.ErrTooLarge),
		errors.Is(err, fsm.ErrIdempotencyFull), errors.Is(err, fsm.ErrIdempotencyMismatch),
		errors.Is(err, cluster.ErrNotApplied), errors.Is(err, cluster.ErrOutcomeUnknown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	default:
		return fmt.Errorf("%w: %w", cluster.ErrOutcomeUnknown, err)
	}
}

// read runs fn on the state (a follower gets the leader's read index
// itself). It sets X-Dobj-Index.
func (s *Server) read(c echo.Context, linearizable bool, fn func(*objects.Store)) error {
	index, err := s.node.Read(c.Request().Context(), linearizable, fn)
	if err != nil {
		return err
	}
	setIndex(c, index)
	return nil
}
