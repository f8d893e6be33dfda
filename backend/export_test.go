package backend

// WaitRecorded waits until the failure records of finished binds are
// written, which happens after their answer.
func WaitRecorded(s *Service) { s.recording.wg.Wait() }
