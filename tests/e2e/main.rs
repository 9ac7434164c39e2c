//! End to end with the real binaries: the README's street (`gridctl
//! certs`, a coordinator and two nodes over mutual TLS, `gridctl street`,
//! rollups and reports) and the demo street.

mod readme_street;
