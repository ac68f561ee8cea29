//! Interrupted runs leave nothing behind: SIGINT (Ctrl-C), SIGTERM and SIGHUP remove every
//! temporary file and folder of the run (registered in [`fisherlab_io::temporaries`]), print
//! one line and exit with 130.

/// Install the handler (once, at start-up).
pub fn install() {
    // a second install (never done) or a platform without signals leaves the default handler
    let _ = ctrlc::set_handler(|| {
        fisherlab_io::temporaries::remove_all();
        eprintln!("interrupted: no output was written");
        std::process::exit(130);
    });
}
