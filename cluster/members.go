package cluster

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// checkMember returns ErrUnknownMember unless id is a server of the Raft
// configuration this node holds. Remove asks it first, because Raft's own
// RemoveServer commits a new configuration even for an id it does not
// have, and a client asking to remove a typo must learn that nothing
// happened.
func (n *Node) checkMember(id string) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		// Nothing was proposed yet: whatever failed, nothing changed.
		return fmt.Errorf("%w: read the configuration: %v", ErrNotApplied, err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(id) {
			return nil
		}
	}
	return fmt.Errorf("remove %q: %w", id, ErrUnknownMember)
}
