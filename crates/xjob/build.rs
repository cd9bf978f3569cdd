// The same test gates as tricircle-rpc's (tests/bus.rs and tests/faults.rs
// need RabbitMQ and the oslo.messaging venv): see crates/rpc/build.rs.
include!("../rpc/build.rs");
