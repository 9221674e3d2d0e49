package lan

// Loopback is the loopback network for the external tests.
var Loopback = loopback
