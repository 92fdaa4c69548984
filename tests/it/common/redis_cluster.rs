//! A real Redis Cluster on loopback for tests: six `redis-server --cluster-enabled yes` nodes
//! (three masters with a replica each) joined by `redis-cli --cluster create ... --cluster-replicas
//! 1`, each on a free port with its cluster bus on another free port and its own temporary
//! directory. A test can kill a node (SIGKILL, as a crash), wait for the cluster to promote the
//! replica, restart the node (same directory, so same node id: it rejoins as a replica) and run
//! `redis-cli --cluster check`. Every node is killed when the cluster is dropped.
//!
//! The node timeout is 1 s, so a failover takes about 2 s instead of the default 15 s; the
//! nodes keep no data on disk (a restarted node resyncs from its master), as the tests want a
//! crash to lose what was not replicated. Needs the Debian packages redis-server and
//! redis-tools (redis-cli).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::port::free_port;

/// The cluster's node timeout: how long a master may be silent before its replica takes over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// How long a failover or a rejoin may take before the harness gives up (a failing test, not
/// a hang): the node timeout, the replica's election delay and gossip, with room for a slow
/// machine.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

struct Node {
    port: u16,
    bus_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Stopped with SIGSTOP (`pause`): running, but answering nothing.
    paused: bool,
}

/// One line of `CLUSTER NODES`, as a node sees the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub port: u16,
    pub master: bool,
    /// The master's id, for a replica.
    pub master_id: Option<String>,
    /// Flagged `fail` or `fail?` by the node asked.
    pub failing: bool,
    pub connected: bool,
    /// Slot ranges served, inclusive (masters only).
    pub slots: Vec<(u16, u16)>,
}

impl NodeInfo {
    pub fn slot_count(&self) -> u32 {
        self.slots
            .iter()
            .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
            .sum()
    }

    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }
}

pub struct RedisCluster {
    nodes: Vec<Node>,
}

fn cli_missing(e: std::io::Error) -> ! {
    panic!("cannot run redis-cli ({e}): install the Debian package redis-tools (with redis-server)")
}

/// Parses `CLUSTER NODES`.
pub fn parse_nodes(text: &str) -> Vec<NodeInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 8, "unexpected CLUSTER NODES line `{l}`");
            // ip:port@cport[,hostname]
            let port = f[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no port in `{l}`"));
            let flags: Vec<&str> = f[2].split(',').collect();
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .map(|s| match s.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (s.parse().unwrap(), s.parse().unwrap()),
                })
                .collect();
            NodeInfo {
                id: f[0].to_string(),
                port,
                master: flags.contains(&"master"),
                master_id: (f[3] != "-").then(|| f[3].to_string()),
                failing: flags.contains(&"fail") || flags.contains(&"fail?"),
                connected: f[7] == "connected",
                slots,
            }
        })
        .collect()
}

impl Node {
    fn new() -> Node {
        Node {
            port: free_port(),
            bus_port: free_port(),
            dir: tempfile::Builder::new()
                .prefix("launchguard-redis-cluster-")
                .tempdir()
                .unwrap(),
            child: None,
            paused: false,
        }
    }
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster and waits until every node agrees it is healthy.
    pub fn start() -> RedisCluster {
        let mut c = RedisCluster { nodes: Vec::new() };
        for i in 0..6 {
            // A free port can be taken by another process before the node binds it (the
            // machine runs other tests): a new pair of ports then, a few times at most.
            for attempt in 1.. {
                c.nodes.push(Node::new());
                match c.try_spawn(i) {
                    Ok(()) => break,
                    Err(log) if attempt < 5 && log.contains("Address already in use") => {
                        c.kill(i);
                        c.nodes.pop();
                    }
                    Err(log) => panic!("redis-server {i} did not start; its log: {log}"),
                }
            }
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(c.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let out = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| cli_missing(e));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("[OK] All 16384 slots covered"),
            "redis-cli --cluster create failed ({}):\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        c.wait_until("the new cluster is healthy", |c| c.healthy());
        c
    }

    fn spawn(&mut self, i: usize) {
        if let Err(log) = self.try_spawn(i) {
            let port = self.nodes[i].port;
            panic!("redis-server on port {port} did not answer PING; its log: {log}");
        }
    }

    /// Starts node i and waits for its PING; its log when it exits or stays silent.
    fn try_spawn(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "node {i} is running");
        let child = Command::new("redis-server")
            .args(["--port", &n.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-port", &n.bus_port.to_string()])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            // Replicas sync at once instead of after the default 5 s diskless delay.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(n.dir.path())
            .arg("--logfile")
            .arg(n.dir.path().join("redis.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install the Debian package redis-server")
            });
        n.child = Some(child);
        let port = n.port;
        let until = Instant::now() + Duration::from_secs(20);
        while self.query::<String>(port, &["PING"]).is_err() {
            let exited = self.nodes[i]
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= until {
                if exited {
                    self.nodes[i].child = None;
                }
                return Err(self.log(i));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The node's log, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.path().join("redis.log")).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    pub fn index_of_port(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Seed URLs of the running nodes, as a cluster client takes them.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    pub fn dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.path().to_path_buf()
    }

    /// A plain connection to one node (not cluster-aware: a key of another node's slot gets
    /// MOVED). WAIT counts the replicas that have this connection's writes, so a write and its
    /// WAIT go on one connection.
    pub fn connection(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
        let con = client.get_connection_with_timeout(Duration::from_secs(2))?;
        con.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(con)
    }

    /// One command to one node, on a connection of its own.
    pub fn query<T: redis::FromRedisValue>(
        &self,
        port: u16,
        args: &[&str],
    ) -> redis::RedisResult<T> {
        let mut con = self.connection(port)?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut con)
    }

    /// The cluster as node `i` sees it.
    pub fn topology(&self, i: usize) -> Vec<NodeInfo> {
        let text: String = self
            .query(self.port(i), &["CLUSTER", "NODES"])
            .unwrap_or_else(|e| panic!("CLUSTER NODES on node {i}: {e}"));
        parse_nodes(&text)
    }

    fn any_running(&self) -> usize {
        (0..self.len())
            .find(|i| self.is_running(*i) && !self.nodes[*i].paused)
            .expect("no node is running")
    }

    /// Indices of the masters that serve slots, as a running node sees them.
    pub fn masters(&self) -> Vec<usize> {
        self.topology(self.any_running())
            .iter()
            .filter(|n| n.master && !n.slots.is_empty() && !n.failing)
            .map(|n| self.index_of_port(n.port))
            .collect()
    }

    /// The replica of master `m`, as a running node sees it.
    pub fn replica_of(&self, m: usize) -> Option<usize> {
        let t = self.topology(self.any_running());
        let id = &t.iter().find(|n| n.port == self.port(m))?.id;
        t.iter()
            .find(|n| n.master_id.as_ref() == Some(id))
            .map(|n| self.index_of_port(n.port))
    }

    /// The slot of a key (CRC16 of its hash tag or whole name, mod 16384), from the server.
    pub fn slot(&self, key: &str) -> u16 {
        self.query(self.port(self.any_running()), &["CLUSTER", "KEYSLOT", key])
            .unwrap()
    }

    /// The running master that serves `slot`.
    pub fn owner(&self, slot: u16) -> usize {
        let t = self.topology(self.any_running());
        let n = t
            .iter()
            .find(|n| n.master && !n.failing && n.serves(slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}: {t:?}"));
        self.index_of_port(n.port)
    }

    /// `CLUSTER INFO`'s cluster_state on node `i` is `ok`.
    fn state_ok(&self, i: usize) -> bool {
        self.query::<String>(self.port(i), &["CLUSTER", "INFO"])
            .is_ok_and(|s| s.lines().any(|l| l.trim() == "cluster_state:ok"))
    }

    /// Every running node says the cluster is ok, sees every other running node connected
    /// and unflagged, and sees every slot served by a master that has a connected replica;
    /// every replica's replication link is up (its first sync done).
    pub fn healthy(&self) -> bool {
        let running: Vec<usize> = (0..self.len()).filter(|i| self.is_running(*i)).collect();
        for &i in &running {
            if !self.state_ok(i) {
                return false;
            }
            let Ok(text) = self.query::<String>(self.port(i), &["CLUSTER", "NODES"]) else {
                return false;
            };
            let t = parse_nodes(&text);
            for &j in &running {
                let Some(n) = t.iter().find(|n| n.port == self.port(j)) else {
                    return false;
                };
                if n.failing || !n.connected {
                    return false;
                }
            }
            let masters: Vec<&NodeInfo> = t
                .iter()
                .filter(|n| n.master && !n.slots.is_empty())
                .collect();
            if masters.iter().map(|m| m.slot_count()).sum::<u32>() != 16384 {
                return false;
            }
            // Every running node has its role: a master serving slots, with a replica that
            // this node knows of, or a replica (gossip spreads the roles after a change).
            for &j in &running {
                let n = t.iter().find(|n| n.port == self.port(j)).unwrap();
                if n.master && n.slots.is_empty() {
                    return false;
                }
            }
            // A replica in the cluster's view may still be waiting for its first sync.
            if !t.iter().any(|n| n.port == self.port(i) && n.master)
                && !self
                    .query::<String>(self.port(i), &["INFO", "replication"])
                    .is_ok_and(|s| s.lines().any(|l| l.trim() == "master_link_status:up"))
            {
                return false;
            }
            for m in &masters {
                if !t
                    .iter()
                    .any(|r| r.master_id.as_ref() == Some(&m.id) && r.connected && !r.failing)
                {
                    return false;
                }
            }
        }
        true
    }

    pub fn wait_until(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let until = Instant::now() + SETTLE_TIMEOUT;
        while !done(self) {
            if Instant::now() > until {
                let view = (0..self.len())
                    .filter(|i| self.is_running(*i))
                    .map(|i| {
                        format!(
                            "node {i} (port {}): {:?}",
                            self.port(i),
                            self.query::<String>(self.port(i), &["CLUSTER", "NODES"])
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!("{what}: not within {SETTLE_TIMEOUT:?}\n{view}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, i: usize, sig: rustix::process::Signal) {
        let pid = self.nodes[i].child.as_ref().expect("node is running").id();
        let pid = rustix::process::Pid::from_raw(pid as i32).expect("a process id");
        rustix::process::kill_process(pid, sig).expect("signal the node");
    }

    /// Stops node `i` with SIGSTOP: it keeps its sockets but answers nothing, neither its
    /// clients, nor the cluster bus, nor its master's replication stream (a replica that
    /// falls behind). `resume` continues it.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, rustix::process::Signal::STOP);
        self.nodes[i].paused = true;
    }

    pub fn resume(&mut self, i: usize) {
        self.signal(i, rustix::process::Signal::CONT);
        self.nodes[i].paused = false;
    }

    /// Kills node `i` with SIGKILL (a crash: no shutdown, no final save).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes[i].paused = false;
    }

    /// After killing master `killed`: waits until another node serves its slots (the replica
    /// promoted by the cluster's own election) and every running node says the cluster is ok.
    /// Returns the new master's index.
    pub fn wait_failover(&self, killed: usize, slots: &[(u16, u16)]) -> usize {
        assert!(!slots.is_empty(), "node {killed} served no slot");
        let mut promoted = None;
        self.wait_until(&format!("failover of node {killed}"), |c| {
            let running: Vec<usize> = (0..c.len()).filter(|i| c.is_running(*i)).collect();
            let new = running.iter().copied().find(|&i| {
                c.topology(running[0])
                    .iter()
                    .any(|n| n.port == c.port(i) && n.master && n.slots == slots)
            });
            promoted = new;
            new.is_some() && running.iter().all(|&i| c.state_ok(i))
        });
        promoted.unwrap()
    }

    /// Starts node `i` again from its directory (its nodes.conf keeps its id and the cluster's
    /// layout) and waits until it is back in the cluster and the cluster is healthy.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_until(&format!("node {i} rejoins"), |c| c.healthy());
    }

    /// `redis-cli --cluster check` through a running node: Ok(its output) when it exits 0 and
    /// reports no error or warning (slots covered, nodes agree, no open slot), else Err(output).
    pub fn check(&self) -> Result<String, String> {
        let out = Command::new("redis-cli")
            .args(["--cluster", "check"])
            .arg(format!("127.0.0.1:{}", self.port(self.any_running())))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| cli_missing(e));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let clean = out.status.success()
            && text.contains("[OK] All nodes agree about slots configuration.")
            && text.contains("[OK] All 16384 slots covered.")
            && !text.contains("[ERR]")
            && !text.contains("[WARNING]");
        if clean { Ok(text) } else { Err(text) }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
