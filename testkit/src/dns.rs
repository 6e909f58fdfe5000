//! A small authoritative DNS server on 127.0.0.1 UDP for the DNS provider's tests: answers A,
//! AAAA and PTR from a fixed zone with the TTLs given, NXDOMAIN for names marked gone, an empty
//! answer for known names without records of the asked type, and no answer at all for names
//! marked silent. Counts every query it receives by (name, type), answered or not, so tests can
//! see what the cache saved. Messages are encoded with `hickory-proto`.

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

#[derive(Default)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<(RData, u32)>>,
    gone: HashSet<String>,
    silent: HashSet<String>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn a(mut self, name: &str, ip: &str, ttl: u32) -> Zone {
        let rdata = match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => (RecordType::A, RData::A(A(v4))),
            IpAddr::V6(v6) => (RecordType::AAAA, RData::AAAA(AAAA(v6))),
        };
        self.records
            .entry((key(name), rdata.0))
            .or_default()
            .push((rdata.1, ttl));
        self
    }

    pub fn ptr(mut self, ip: &str, target: &str, ttl: u32) -> Zone {
        let reverse = Name::from(ip.parse::<IpAddr>().unwrap()).to_ascii();
        let target = Name::from_ascii(target).unwrap();
        self.records
            .entry((key(&reverse), RecordType::PTR))
            .or_default()
            .push((RData::PTR(PTR(target)), ttl));
        self
    }

    pub fn gone(mut self, name: &str) -> Zone {
        self.gone.insert(key(name));
        self
    }

    pub fn silent(mut self, name: &str) -> Zone {
        self.silent.insert(key(name));
        self
    }
}

pub struct DnsServer {
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<(String, RecordType), usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    pub async fn start(zone: Zone) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(reply) = answer(&zone, &request, &counted) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        DnsServer { addr, hits, task }
    }

    /// Queries received for `name` (forward name, or an address for PTR) and `kind`.
    pub fn hits(&self, name: &str, kind: RecordType) -> usize {
        let name = match (kind, name.parse::<IpAddr>()) {
            (RecordType::PTR, Ok(ip)) => key(&Name::from(ip).to_ascii()),
            _ => key(name),
        };
        self.hits
            .lock()
            .unwrap()
            .get(&(name, kind))
            .copied()
            .unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

fn answer(
    zone: &Zone,
    request: &Message,
    hits: &Mutex<HashMap<(String, RecordType), usize>>,
) -> Option<Vec<u8>> {
    let query = request.queries.first()?;
    let name = key(&query.name().to_ascii());
    let kind = query.query_type();
    *hits
        .lock()
        .unwrap()
        .entry((name.clone(), kind))
        .or_default() += 1;
    if zone.silent.contains(&name) {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(query.clone());
    if zone.gone.contains(&name) {
        reply.metadata.response_code = ResponseCode::NXDomain;
    } else if let Some(records) = zone.records.get(&(name, kind)) {
        for (rdata, ttl) in records {
            reply.add_answer(Record::from_rdata(
                query.name().clone(),
                *ttl,
                rdata.clone(),
            ));
        }
    }
    reply.to_vec().ok()
}
