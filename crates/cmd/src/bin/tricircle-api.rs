//! `tricircle-api --config-file api.conf`: the admin REST API.

use tricircle_cmd::{fail, start_daemon};

fn main() {
    let (config, logging) = start_daemon("Tricircle admin API", "tricircle-api");
    let result = actix_web::rt::System::new().block_on(async {
        let reload = logging
            .reload_on_hangup()
            .unwrap_or_else(|e| fail(&format!("cannot install the SIGHUP handler: {e}")));
        actix_web::rt::spawn(reload);
        tricircle_api::server::run(config).await
    });
    if let Err(e) = result {
        tracing::error!("{e}");
        fail(&e.to_string());
    }
}
