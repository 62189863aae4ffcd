//! The idle-connection scenario: open N connections (each with one channel), print
//! "ready", hold them until the run time elapses, close them.

use crate::cli::Config;
use crate::client::{server_close_message, Conn, EOF_MSG};
use crate::frame::{decode_method, FRAME_METHOD};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Handshakes in flight at once.
const PARALLEL_OPENS: usize = 64;

/// Raises the open-files limit to at least `want` (up to the hard limit).
pub fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

async fn hold(conn: &mut Conn, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
    loop {
        while let Some((ty, ch, r)) = conn.fb.next_frame()? {
            if ty == FRAME_METHOD {
                let m = decode_method(&conn.fb.buf[r])?;
                if let Some(msg) = server_close_message(ch, &m) {
                    return Err(msg);
                }
            }
        }
        tokio::select! {
            r = conn.fb.fill(&mut conn.rd) => match r {
                Ok(0) => return Err(EOF_MSG.into()),
                Ok(_) => {}
                Err(e) => return Err(format!("reading from the server: {e}")),
            },
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Runs the scenario; errors if any connection fails to open or is closed by the server.
pub fn run(cfg: &Config) -> Result<(), String> {
    let n = cfg.connections.unwrap_or(0) as usize;
    raise_nofile(n as u64 + 256);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    rt.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Result<(), String>>();
        let sem = Arc::new(Semaphore::new(PARALLEL_OPENS));
        let mut tasks = JoinSet::new();
        let t0 = Instant::now();
        for i in 0..n {
            let uri = cfg.uri.clone();
            let sem = sem.clone();
            let ev = ev_tx.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let opened = async {
                    let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
                    let mut c = Conn::open(&uri, &format!("warren-perf idle {i}")).await?;
                    c.channel_open(1).await?;
                    c.fb.shrink(512);
                    Ok::<Conn, String>(c)
                }
                .await;
                let mut c = match opened {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ev.send(Err(format!("connection {i}: {e}")));
                        return;
                    }
                };
                let _ = ev.send(Ok(()));
                match hold(&mut c, &mut stop).await {
                    Ok(()) => {
                        let _ = c.close().await;
                    }
                    Err(e) => {
                        let _ = ev.send(Err(format!("connection {i}: {e}")));
                    }
                }
            });
        }
        drop(ev_tx);
        let mut sigint = signal(SignalKind::interrupt()).ok();
        let mut open = 0usize;
        let mut deadline: Option<Instant> = None;
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let result = loop {
            let sig = async {
                match sigint.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = ev_rx.recv() => match ev {
                    Some(Ok(())) => {
                        open += 1;
                        if open == n {
                            eprintln!("opened {n} connections in {:.2} s", t0.elapsed().as_secs_f64());
                            let mut o = std::io::stdout().lock();
                            let _ = writeln!(o, "ready");
                            let _ = o.flush();
                            deadline = Some(Instant::now() + Duration::from_secs_f64(cfg.time.unwrap_or(10.0)));
                        }
                    }
                    Some(Err(e)) => break Err(e),
                    None => break Err("all connections are gone".into()),
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => break Ok(()),
                _ = sig => break if open == n { Ok(()) } else { Err("interrupted".into()) },
            }
        };
        let _ = stop_tx.send(true);
        if result.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
        }
        result
    })
}
