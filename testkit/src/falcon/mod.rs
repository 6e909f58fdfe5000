//! The project's own Falcon API test servers: the Event Streams API the
//! streamer holds (`streams`) and the hosts API the enricher's context asks
//! (`hosts`), each behind the same OAuth2 client-credentials exchange.

pub mod hosts;
pub mod streams;
