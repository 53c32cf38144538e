package cluster

import "github.com/hashicorp/raft"

// SetBlocked cuts this node off from the given members (Raft and peer
// traffic both ways, as long as the peers block this node too). An empty
// list heals. It needs Config.Faults.
func (n *Node) SetBlocked(ids []string) error {
	if !n.cfg.Faults {
		return ErrFaultsDisabled
	}
	addrs := map[string]raft.ServerAddress{}
	for _, s := range n.servers() {
		addrs[string(s.ID)] = s.Address
	}
	var block []raft.ServerAddress
	blocked := map[string]bool{}
	for _, id := range ids {
		blocked[id] = true
		if a, ok := addrs[id]; ok {
			block = append(block, a)
		}
	}
	n.blockedMu.Lock()
	n.blocked = blocked
	n.blockedMu.Unlock()
	n.deps.Peers.SetBlocked(block)
	n.fwd.streams.cut(blocked)
	n.log.Info("fault injection: blocked peers", "blocked", ids)
	return nil
}

// Blocked reports whether fault injection cuts this node off from id.
func (n *Node) Blocked(id string) bool {
	n.blockedMu.Lock()
	defer n.blockedMu.Unlock()
	return n.blocked[id]
}
