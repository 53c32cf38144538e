package fsm

// IdempotencyKeys is how many Idempotency-Keys the Machine remembers now.
func (m *Machine) IdempotencyKeys() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.idem.len()
}
