// Package transporttest holds test helpers shared by the tests of the transport front-ends
// (transport/engineio, transport/native): counting the goroutines a front-end keeps per connection
// (GoroutinesIn, AwaitParked, AwaitAllParked, AwaitIdle), and a client that writes in bursts until the server
// closes (WriteUntilClosed). It is for tests only, is safe for concurrent use, and imports no
// roomio package.
package transporttest
