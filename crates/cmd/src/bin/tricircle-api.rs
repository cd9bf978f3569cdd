//! `tricircle-api --config-file api.conf`: the admin REST API.

use tricircle_cmd::{fail, start_daemon};

fn main() {
    let (config, _guard) = start_daemon("Tricircle admin API", "tricircle-api");
    let result = actix_web::rt::System::new().block_on(tricircle_api::server::run(config));
    if let Err(e) = result {
        tracing::error!("{e}");
        fail(&e.to_string());
    }
}
