//! A deterministic demo street, written straight into real stores: the
//! seed's street of `DOMAIN.md` (桐柏路街道, six communities and a village,
//! 23 compounds) with a month of daily work, for demonstrations, rollup
//! checks and load tests.
//!
//! The same [`StreetSpec`] gives the same documents, byte for byte: every
//! random choice comes from a `StdRng` seeded from the spec (one stream for
//! the street, one per community), actors are derived from the seed, and
//! every change is stamped with `now_ms`.
//!
//! ## What is generated
//!
//! - The **street document**: the seven communities (so the coordinator
//!   accepts their nodes), risk regions at high, medium and low level, a
//!   notice and six task forces.
//! - Per community, a **registry**: compounds, buildings of about 24
//!   households, contract groups of about 10 households each led by a party
//!   member (self-managed, resident-based, or in service: about 300 in the
//!   street), households (about 0.3% deliberately without a contract group:
//!   gaps to show), residents with valid ID numbers and the street-wide
//!   person key, staff (a grid chief, grid workers per compound, sent-down
//!   staff, a seconded cadre), volunteer teams (11 in the street) and
//!   volunteers. About 3% of the residents are elderly people living alone
//!   with a care relationship.
//!   Five persons are registered in two communities each (same ID number,
//!   so the same person key), for the street's conflict report.
//! - A **cases** document: care relationships (visit every 2 days, their
//!   `last_visit` the day of their latest generated visit; a few overdue),
//!   returnees found by screening (from the street's risk regions and from
//!   elsewhere), home isolations of those from medium- and high-risk regions
//!   (most released, some past their planned end), tickets received over
//!   the month (hotline mostly; most resolved after 0.5–80 hours, some
//!   open) and community notices.
//! - One **activity** document per day of `days` ending at `as_of`:
//!   screening visits (about 93% of households a day; on `as_of` about 60%
//!   and none after `now_ms`), care visits and spot-check inspections (about
//!   2% of households a day, about 95% knowing their member), all between
//!   08:00 and 20:00 Beijing time.
//!
//! Every record meets the core's field and reference rules, but documents
//! are not written through `CommunityReplica::apply` (which validates each
//! record against the whole community) nor with `docs::put_in` in a
//! transaction (Automerge 0.12 splices each operation into its columnar op
//! set as it is made, tens of µs apiece: minutes for a street). Each
//! document is its frozen genesis plus **one change** holding all its
//! records, built as operations in the op set's own order and encoded the
//! way autosurgeon encodes the records (a test compares the two).
//!
//! ## Writing the stores
//!
//! [`seed`] generates community by community (two worker threads) and day
//! by day, turns each document into store bytes as soon as it is complete
//! and drops it, and writes the same bytes with their heads into the
//! community's node store and into the coordinator's store, so node and
//! coordinator start in sync. The working set the services load all the
//! time (registry, cases, today and yesterday, the street document) is
//! stored as a compacted snapshot (`AutoCommit::save`); earlier days as
//! their genesis and generated change chunks, as any edit is stored, which
//! are much cheaper to make and load about 2.5 times slower, on the rare
//! occasion a past day is loaded (the services compact them like any other
//! chunks). The
//! stores are the services' own files ([`NODE_DB_FILE`],
//! [`COORDINATOR_DB_FILE`] in their data directories) and must be empty.
//! [`generate_community`] builds one community in memory instead, for tests.
//!
//! The nodes must be configured with the street's person-key secret
//! ([`SeededStreet::secret_hex`]), time zone Asia/Shanghai, and their
//! community's id, name and kind as reported in [`DemoCommunityInfo`]; the
//! coordinator with street id [`STREET_ID`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit};
use chrono::{Datelike, Days, TimeZone};
use chrono_tz::Tz;
use gridsync_core::docs::{collection_obj, collections, genesis};
use gridsync_core::replica::returnee_id;
use gridsync_core::street::StreetCommunity;
use gridsync_core::validate::id_check_char;
use gridsync_core::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::store::{Audit, DocWrite, Store, StoreError};

/// The id of the demo street (the coordinator's `street_id`).
pub const STREET_ID: &str = "tongbai-street";
/// The demo street's display name.
pub const STREET_NAME: &str = "桐柏路街道 Tongbai Road Street";
/// The time zone whose days split the activity documents.
pub const TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;
/// The node's store file in its data directory (as `gridsync-node` opens it).
pub const NODE_DB_FILE: &str = "gridsync-node.sqlite3";
/// The coordinator's store file in its data directory.
pub const COORDINATOR_DB_FILE: &str = "gridsync-coordinator.sqlite3";
/// How many persons are registered in two communities.
pub const DUPLICATE_PERSONS: usize = 5;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreetSpec {
    /// Every random choice follows from it.
    pub seed: u64,
    /// Households of each community (at least 10); residents are about three
    /// times as many.
    pub households_per_community: usize,
    /// Days of activity, ending on `as_of` (1 to 366).
    pub days: u32,
    /// The last day of activity, in Beijing time.
    pub as_of: Day,
    /// Now, Unix ms: no instant is generated after it, and every change is
    /// stamped with it. Must not be before the start of `as_of`.
    pub now_ms: i64,
}

impl StreetSpec {
    /// The standard street: 3,000 households per community, 30 days.
    pub fn standard(seed: u64, as_of: Day, now_ms: i64) -> Self {
        StreetSpec {
            seed,
            households_per_community: 3000,
            days: 30,
            as_of,
            now_ms,
        }
    }

    fn first_day(&self) -> Day {
        self.as_of - Days::new(u64::from(self.days.saturating_sub(1)))
    }

    fn check(&self) -> Result<(), DemoStreetError> {
        let bad = |s: String| Err(DemoStreetError::Spec(s));
        if self.households_per_community < 10 {
            return bad(format!(
                "households_per_community is {}; at least 10 are needed to fill the compounds",
                self.households_per_community
            ));
        }
        if !(1..=366).contains(&self.days) {
            return bad(format!("days is {}; give 1 to 366", self.days));
        }
        if self.first_day().year() < 2001 || self.as_of.year() > 8999 {
            return bad(format!(
                "as_of {} is out of range (activity from 2001 to 8999)",
                self.as_of
            ));
        }
        if self.now_ms < day_start_ms(self.as_of) {
            return bad(format!(
                "now_ms {} is before the start of as_of {} in {}; give an as_of no later than today",
                self.now_ms,
                self.as_of,
                TIME_ZONE.name()
            ));
        }
        Ok(())
    }
}

/// Why the demo street could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum DemoStreetError {
    /// The spec is out of range; the message says which field and why.
    #[error("demo street spec: {0}")]
    Spec(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {0} already holds documents; seed the demo street into empty data directories")]
    NotEmpty(PathBuf),
    #[error("a demo street worker thread panicked")]
    Worker,
    /// A generated record or change that Automerge refused: a bug here.
    #[error("generating the demo street: {0}")]
    Generate(String),
}

/// Record counts of a community, or of the whole street.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub compounds: u64,
    pub buildings: u64,
    pub contract_groups: u64,
    pub households: u64,
    /// Households deliberately left without a contract group (gaps).
    pub households_without_group: u64,
    pub residents: u64,
    pub party_members: u64,
    /// Of those, in service elsewhere and reported to the community.
    pub party_members_in_service: u64,
    pub staff: u64,
    pub volunteer_teams: u64,
    pub volunteers: u64,
    /// Residents living alone aged 70 or more, each with a care relationship.
    pub elderly_alone: u64,
    pub care_relationships: u64,
    /// Relationships whose next visit was due before `as_of`.
    pub care_overdue: u64,
    pub care_visits: u64,
    pub screening_visits: u64,
    /// Households screened on `as_of`.
    pub screened_on_as_of: u64,
    pub inspections: u64,
    pub inspections_knew_member: u64,
    pub returnees: u64,
    pub isolations: u64,
    /// Isolations not released at the end of `as_of`, and of those the ones
    /// past their planned end.
    pub isolating: u64,
    pub isolations_past_end: u64,
    pub tickets: u64,
    pub tickets_open: u64,
    pub notices: u64,
    pub activity_days: u64,
}

impl Counts {
    /// Adds `o` into `self`, field by field.
    pub fn add(&mut self, o: &Counts) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        sum!(
            compounds,
            buildings,
            contract_groups,
            households,
            households_without_group,
            residents,
            party_members,
            party_members_in_service,
            staff,
            volunteer_teams,
            volunteers,
            elderly_alone,
            care_relationships,
            care_overdue,
            care_visits,
            screening_visits,
            screened_on_as_of,
            inspections,
            inspections_knew_member,
            returnees,
            isolations,
            isolating,
            isolations_past_end,
            tickets,
            tickets_open,
            notices,
            activity_days
        );
    }
}

/// One generated community: what its node must be configured with, and
/// what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoCommunityInfo {
    pub id: CommunityId,
    pub name: String,
    pub kind: CommunityKind,
    pub compounds: usize,
    pub households: usize,
    pub residents: usize,
    pub counts: Counts,
}

/// Wall time of each phase of [`seed`]. The per-community phases run on
/// two workers at once and are summed over them, so they can add up to
/// more than `total`.
#[derive(Clone, Debug, Default)]
pub struct SeedTimings {
    /// Generating and saving the street document.
    pub street: Duration,
    /// Generating records and their changes (summed over workers).
    pub generate: Duration,
    /// Turning documents into store bytes: applying and saving the working
    /// set, encoding the earlier days' chunks (summed over workers).
    pub save: Duration,
    /// Committing into the node stores (summed over workers).
    pub write_nodes: Duration,
    /// Committing into the coordinator's store.
    pub write_coordinator: Duration,
    pub total: Duration,
}

/// What [`seed`] wrote.
#[derive(Clone, Debug)]
pub struct SeededStreet {
    pub street_id: String,
    pub street_name: String,
    /// The street's person-key secret, hex: every node of the street needs
    /// it (`person_key_secret`) to derive the same keys.
    pub secret_hex: String,
    pub communities: Vec<DemoCommunityInfo>,
    /// The sum over the communities.
    pub counts: Counts,
    /// Persons registered in two communities (same person key).
    pub duplicate_persons: usize,
    /// The number of documents written, each with its heads, into its
    /// node's store and the coordinator's (the street document into all).
    pub documents: usize,
    pub timings: SeedTimings,
}

// ---- the street's fixed shape ----

struct CommunityDef {
    id: &'static str,
    name: &'static str,
    kind: CommunityKind,
    compounds: usize,
    /// The road (or village) its compounds are named after.
    place: &'static str,
    volunteer_teams: usize,
}

const COMMUNITIES: [CommunityDef; 7] = [
    CommunityDef {
        id: "tongbai-rd",
        name: "桐柏路社区 Tongbai Road Community",
        kind: CommunityKind::Community,
        compounds: 4,
        place: "桐柏路",
        volunteer_teams: 2,
    },
    CommunityDef {
        id: "jianshe-rd",
        name: "建设路社区 Jianshe Road Community",
        kind: CommunityKind::Community,
        compounds: 3,
        place: "建设路",
        volunteer_teams: 2,
    },
    CommunityDef {
        id: "funiu-rd",
        name: "伏牛路社区 Funiu Road Community",
        kind: CommunityKind::Community,
        compounds: 3,
        place: "伏牛路",
        volunteer_teams: 2,
    },
    CommunityDef {
        id: "zhongyuan-rd",
        name: "中原路社区 Zhongyuan Road Community",
        kind: CommunityKind::Community,
        compounds: 3,
        place: "中原路",
        volunteer_teams: 2,
    },
    CommunityDef {
        id: "huaihe-rd",
        name: "淮河路社区 Huaihe Road Community",
        kind: CommunityKind::Community,
        compounds: 3,
        place: "淮河路",
        volunteer_teams: 1,
    },
    CommunityDef {
        id: "songshan-rd",
        name: "嵩山路社区 Songshan Road Community",
        kind: CommunityKind::Community,
        compounds: 3,
        place: "嵩山路",
        volunteer_teams: 1,
    },
    CommunityDef {
        id: "liuzhuang-village",
        name: "刘庄村 Liuzhuang Village",
        kind: CommunityKind::Village,
        compounds: 4,
        place: "刘庄村",
        volunteer_teams: 1,
    },
];

/// The number of communities (and villages) of the demo street.
pub const COMMUNITY_COUNT: usize = COMMUNITIES.len();

/// The id, name and kind of every community of the demo street, in order.
pub fn communities() -> Vec<(CommunityId, &'static str, CommunityKind)> {
    COMMUNITIES
        .iter()
        .map(|d| (community_id(d), d.name, d.kind))
        .collect()
}

fn community_id(d: &CommunityDef) -> CommunityId {
    CommunityId::parse(d.id).expect("the demo community ids are valid")
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "建国", "志强", "国强", "建华",
    "俊", "鹏", "浩", "宇", "斌", "刚", "辉", "峰", "建军", "永红", "海涛", "子豪", "博文", "振华",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "秀英", "桂兰", "淑珍", "玉兰", "秀兰", "婷", "雪",
    "慧", "霞", "玲", "红梅", "晓燕", "丹", "欣怡", "雨涵", "佳怡", "凤英", "桂英",
];
/// Birth places (the first six digits of an ID number), Zhengzhou's first.
const AREA_CODES: &[&str] = &[
    "410102", "410102", "410102", "410102", "410103", "410104", "410105", "410181", "410122",
    "411302", "412724", "410702", "411023",
];
const DEPARTMENTS: &[&str] = &[
    "中原区卫生健康委员会",
    "中原区城市管理局",
    "中原区市场监督管理局",
    "中原区教育局",
    "中原区民政局",
];
const UNIVERSITIES: &[&str] = &["郑州大学", "河南工业大学", "河南财经政法大学"];
const WORKPLACES: &[&str] = &[
    "中原区人民法院",
    "郑州市第九人民医院",
    "国家税务总局郑州市中原区税务局",
    "中国铁路郑州局集团有限公司",
    "国网郑州供电公司",
    "郑州市第七中学",
    "中原区人民检察院",
];
const STATIONED_UNITS: &[&str] = &[
    "桐柏路小学",
    "中原区建设路派出所",
    "郑州市中心医院",
    "中原万达广场物业",
    "郑州煤矿机械集团",
];
const TEAM_NAMES: &[&str] = &[
    "爱民服务队",
    "红马甲志愿服务队",
    "巾帼志愿服务队",
    "青年突击队",
    "银发志愿服务队",
    "党员先锋队",
    "邻里守望队",
    "平安巡逻队",
    "暖心帮扶队",
    "夕阳红服务队",
    "物资保障志愿队",
];
const POSTS: &[&str] = &[
    "流动监督员（商场入口）",
    "卡口值守",
    "扫码测温",
    "物资配送",
    "核酸检测秩序维护",
    "入户排查",
];
/// Origins of returnees outside the street's risk regions.
const OTHER_ORIGINS: &[&str] = &[
    "河南省开封市",
    "河南省洛阳市",
    "河南省新乡市",
    "河南省许昌市",
    "湖北省武汉市",
    "山东省济南市",
    "江苏省南京市",
];
const TICKET_KINDS: &[(&str, &str, &str)] = &[
    (
        "就医购药",
        "独居老人需代购降压药",
        "网格员已代购药品并送上门",
    ),
    ("物资配送", "居家隔离户需配送蔬菜米面", "志愿者已配送到户"),
    (
        "核酸检测",
        "咨询本楼院核酸检测时间和地点",
        "已电话告知检测安排",
    ),
    ("出行咨询", "咨询返郑报备和出行政策", "已解释报备流程"),
    ("环境卫生", "楼道垃圾未及时清运", "已协调物业清运并消杀"),
    ("隔离政策", "咨询居家隔离解除条件", "已告知解除条件和时间"),
    ("水电维修", "隔离户家中停水", "已联系物业维修恢复供水"),
    ("邻里纠纷", "楼上夜间噪音扰民", "网格员上门协调已解决"),
];
const INSPECTION_NOTES: &[&str] = &[
    "知道联包党员姓名，称其每天询问家中情况",
    "知道联包党员，曾帮忙代购生活物资",
    "能说出联包党员电话",
];
const CARE_NOTES: &[&str] = &[
    "送去蔬菜和挂面",
    "代买降压药",
    "测量血压，情况正常",
    "陪同聊天，帮助打扫卫生",
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn person_name(rng: &mut StdRng, gender: Gender) -> String {
    let given = match gender {
        Gender::Male => GIVEN_MALE,
        Gender::Female => GIVEN_FEMALE,
    };
    format!("{}{}", pick(rng, SURNAMES), pick(rng, given))
}

fn any_name(rng: &mut StdRng) -> String {
    let g = if rng.random_bool(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    person_name(rng, g)
}

fn mobile(rng: &mut StdRng) -> String {
    let prefix = ["13", "15", "17", "18", "19"][rng.random_range(0..5)];
    format!(
        "{prefix}{}{:08}",
        rng.random_range(0..10),
        rng.random_range(0..100_000_000u32)
    )
}

fn new_id(rng: &mut StdRng, kind: Kind) -> String {
    kind.new_id(rng.random::<[u8; 8]>(), None)
}

fn activity_id(rng: &mut StdRng, kind: Kind, day: Day) -> String {
    kind.new_id(rng.random::<[u8; 8]>(), Some(day))
}

/// Midnight of `day` in Beijing, as Unix ms.
fn day_start_ms(day: Day) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    TIME_ZONE
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
        // China has kept UTC+8 without daylight saving since 1991.
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis() - 8 * 3_600_000)
}

const HOUR_MS: i64 = 3_600_000;

/// A date `years` years and some days before `on`.
fn birth_date(rng: &mut StdRng, on: Day, age: u32) -> Day {
    let year_start = on
        .with_year(on.year() - age as i32)
        .or_else(|| {
            on.with_day(28)
                .and_then(|d| d.with_year(d.year() - age as i32))
        })
        .unwrap_or(on);
    year_start - Days::new(rng.random_range(0..365))
}

/// The seed of one random stream: the street's (`stream` 0) or a community's.
fn stream_seed(seed: u64, stream: u64) -> u64 {
    seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6772_6964_7379_6e63
}

// ---- writing a document in one change ----

/// One document being written: its genesis, then every record as the
/// operations of a single change.
///
/// Why not `docs::put_in` in a transaction: Automerge 0.12 splices every
/// operation into its columnar op set as it is made (tens of µs each), so a
/// month of a street's work (about ten million operations) would take
/// minutes. Here the records become the operations of one change, numbered
/// breadth first with keys in order, which is the op set's own order
/// (object, key, id), so that applying it (`apply_changes_batch`, or
/// `load_incremental` when a store is read) finds them in order and splices
/// a few runs. The values are encoded as autosurgeon encodes them (see
/// [`tree`]; a test compares the two kind by kind), so the core reads them
/// like any other record.
struct DocBuilder {
    id: DocId,
    genesis: AutoCommit,
    actor: ActorId,
    /// Root keys (rank 0) and collections (rank 1 + their place in the
    /// genesis, which is their object id order).
    collections: Vec<(&'static str, automerge::legacy::ObjectId)>,
    /// (rank, key, value) of every record.
    entries: Vec<(usize, String, tree::Tree)>,
}

/// A generated document: its genesis and the change holding its records
/// (none when it has no record), not yet applied.
struct Built {
    id: DocId,
    genesis: AutoCommit,
    change: Option<automerge::Change>,
}

impl DocBuilder {
    fn new(id: &DocId, actor: ActorId) -> DocBuilder {
        let genesis = genesis(id, actor.clone());
        let mut collections: Vec<(&'static str, automerge::legacy::ObjectId, u64)> =
            collections(id)
                .into_iter()
                .filter_map(|name| match collection_obj(&genesis, name)? {
                    automerge::ObjId::Id(counter, actor, _) => Some((
                        name,
                        automerge::legacy::ObjectId::Id(automerge::legacy::OpId(counter, actor)),
                        counter,
                    )),
                    automerge::ObjId::Root => None,
                })
                .collect();
        collections.sort_by_key(|c| c.2);
        DocBuilder {
            id: id.clone(),
            genesis,
            actor,
            collections: collections.into_iter().map(|(n, o, _)| (n, o)).collect(),
            entries: Vec::new(),
        }
    }

    /// Writes `rec` at `collection[id]` (a key the document does not hold yet).
    fn put<T: serde::Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        rec: &T,
    ) -> Result<(), DemoStreetError> {
        let rank = 1 + self
            .collections
            .iter()
            .position(|(name, _)| *name == collection)
            .ok_or_else(|| {
                DemoStreetError::Generate(format!("{} has no collection {collection}", self.id))
            })?;
        self.entries
            .push((rank, id.to_string(), rec.serialize(tree::TreeSer)?));
        Ok(())
    }

    /// Writes `rec` at the root under `key` (a key the genesis does not hold).
    fn put_root<T: serde::Serialize>(&mut self, key: &str, rec: &T) -> Result<(), DemoStreetError> {
        self.entries
            .push((0, key.to_string(), rec.serialize(tree::TreeSer)?));
        Ok(())
    }

    /// The records as one change after the genesis, stamped with `now_ms`.
    fn finish(self, spec: &StreetSpec) -> Built {
        use automerge::ObjType;
        use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType, SortedVec};
        use std::collections::VecDeque;
        use tree::Tree;

        let DocBuilder {
            id,
            mut genesis,
            actor,
            collections,
            mut entries,
        } = self;
        if entries.is_empty() {
            return Built {
                id,
                genesis,
                change: None,
            };
        }
        let genesis_changes = genesis.get_changes(&[]);
        let start = genesis_changes
            .iter()
            .map(|c| c.max_op())
            .max()
            .unwrap_or(0)
            + 1;
        let seq = 1 + genesis_changes
            .iter()
            .filter(|c| c.actor_id() == &actor)
            .count() as u64;

        struct Ops {
            actor: ActorId,
            next: u64,
            ops: Vec<Op>,
            /// Objects made whose contents are still to come, in id order.
            queue: VecDeque<(OpId, Tree)>,
        }
        impl Ops {
            fn push(&mut self, obj: ObjectId, key: Key, insert: bool, value: Tree) -> OpId {
                let id = OpId(self.next, self.actor.clone());
                self.next += 1;
                let action = match value {
                    Tree::Scalar(v) => OpType::Put(v),
                    Tree::Map(_) | Tree::List(_) => {
                        let typ = if matches!(value, Tree::Map(_)) {
                            ObjType::Map
                        } else {
                            ObjType::List
                        };
                        self.queue.push_back((id.clone(), value));
                        OpType::Make(typ)
                    }
                };
                self.ops.push(Op {
                    action,
                    obj,
                    key,
                    pred: SortedVec::new(),
                    insert,
                });
                id
            }
        }
        let mut ops = Ops {
            actor: actor.clone(),
            next: start,
            ops: Vec::with_capacity(entries.len() * 12),
            queue: VecDeque::new(),
        };
        // Breadth first, each object's keys in order: the op set's order.
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (rank, key, value) in entries {
            let obj = match rank {
                0 => ObjectId::Root,
                r => collections[r - 1].1.clone(),
            };
            ops.push(obj, Key::from(key), false, value);
        }
        while let Some((obj_id, value)) = ops.queue.pop_front() {
            let obj = ObjectId::Id(obj_id);
            match value {
                Tree::Map(mut fields) => {
                    fields.sort_by(|a, b| a.0.cmp(&b.0));
                    for (k, v) in fields {
                        ops.push(obj.clone(), Key::from(k), false, v);
                    }
                }
                Tree::List(items) => {
                    let mut prev = ElementId::Head;
                    for v in items {
                        prev = ElementId::Id(ops.push(obj.clone(), Key::Seq(prev), true, v));
                    }
                }
                Tree::Scalar(_) => {}
            }
        }
        let change = automerge::Change::from(automerge::ExpandedChange {
            operations: ops.ops,
            actor_id: actor,
            hash: None,
            seq,
            start_op: std::num::NonZeroU64::new(start).unwrap_or(std::num::NonZeroU64::MIN),
            time: spec.now_ms.div_euclid(1000),
            message: Some(format!("demo street (seed {})", spec.seed)),
            deps: genesis.get_heads(),
            extra_bytes: Vec::new(),
            author: None,
        });
        Built {
            id,
            genesis,
            change: Some(change),
        }
    }
}

impl Built {
    /// The document, with the change applied.
    fn into_doc(self) -> Result<AutoCommit, DemoStreetError> {
        let Built {
            id,
            mut genesis,
            change,
        } = self;
        if let Some(change) = change {
            genesis.apply_changes_batch([change]).map_err(|e| {
                DemoStreetError::Generate(format!("{id}: the generated change: {e}"))
            })?;
        }
        Ok(genesis)
    }

    /// What a store holds for the document: the genesis change and the
    /// generated one as incremental chunks (what `load_incremental` reads,
    /// as for any edit), and the heads they reach.
    fn into_saved(self) -> Saved {
        let mut genesis = self.genesis;
        let mut bytes = Vec::new();
        for mut c in genesis.get_changes(&[]) {
            bytes.extend_from_slice(&c.bytes());
        }
        let heads = match self.change {
            Some(mut c) => {
                bytes.extend_from_slice(&c.bytes());
                vec![c.hash()]
            }
            None => genesis.get_heads(),
        };
        Saved {
            id: self.id,
            bytes,
            heads,
        }
    }
}

/// Records as trees of Automerge values, the way autosurgeon's derived
/// `Reconcile` writes them: a struct is a map of its fields, `None` is null,
/// a unit enum variant is its name, `i64` an Int, `u32` a Uint, a `Date`
/// its text, a `Vec` a list, a `BTreeMap` a map. Taken from the records'
/// `Serialize`, which follows the same shape.
mod tree {
    use automerge::ScalarValue;
    use serde::ser::{self, Impossible, Serialize};

    pub(super) enum Tree {
        Scalar(ScalarValue),
        Map(Vec<(String, Tree)>),
        List(Vec<Tree>),
    }

    /// A value shape that records do not have (tagged enum variants, maps
    /// with keys that are not text).
    #[derive(Debug)]
    pub(super) struct Unsupported(String);

    impl std::fmt::Display for Unsupported {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot write {} as a demo record", self.0)
        }
    }

    impl std::error::Error for Unsupported {}

    impl ser::Error for Unsupported {
        fn custom<T: std::fmt::Display>(msg: T) -> Self {
            Unsupported(msg.to_string())
        }
    }

    pub(super) struct TreeSer;

    impl From<Unsupported> for super::DemoStreetError {
        fn from(e: Unsupported) -> Self {
            super::DemoStreetError::Generate(e.to_string())
        }
    }

    fn scalar(v: impl Into<ScalarValue>) -> Result<Tree, Unsupported> {
        Ok(Tree::Scalar(v.into()))
    }

    impl ser::Serializer for TreeSer {
        type Ok = Tree;
        type Error = Unsupported;
        type SerializeSeq = ListSer;
        type SerializeTuple = ListSer;
        type SerializeTupleStruct = ListSer;
        type SerializeTupleVariant = Impossible<Tree, Unsupported>;
        type SerializeMap = MapSer;
        type SerializeStruct = MapSer;
        type SerializeStructVariant = Impossible<Tree, Unsupported>;

        fn serialize_bool(self, v: bool) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Boolean(v))
        }
        fn serialize_i8(self, v: i8) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Int(v.into()))
        }
        fn serialize_i16(self, v: i16) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Int(v.into()))
        }
        fn serialize_i32(self, v: i32) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Int(v.into()))
        }
        fn serialize_i64(self, v: i64) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Int(v))
        }
        fn serialize_u8(self, v: u8) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Uint(v.into()))
        }
        fn serialize_u16(self, v: u16) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Uint(v.into()))
        }
        fn serialize_u32(self, v: u32) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Uint(v.into()))
        }
        fn serialize_u64(self, v: u64) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Uint(v))
        }
        fn serialize_f32(self, v: f32) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::F64(v.into()))
        }
        fn serialize_f64(self, v: f64) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::F64(v))
        }
        fn serialize_char(self, v: char) -> Result<Tree, Unsupported> {
            scalar(v.to_string())
        }
        fn serialize_str(self, v: &str) -> Result<Tree, Unsupported> {
            scalar(v)
        }
        fn serialize_bytes(self, v: &[u8]) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Bytes(v.to_vec()))
        }
        fn serialize_none(self) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Null)
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Tree, Unsupported> {
            v.serialize(self)
        }
        fn serialize_unit(self) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Null)
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<Tree, Unsupported> {
            scalar(ScalarValue::Null)
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<Tree, Unsupported> {
            scalar(variant)
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<Tree, Unsupported> {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            name: &'static str,
            _: u32,
            variant: &'static str,
            _: &T,
        ) -> Result<Tree, Unsupported> {
            Err(Unsupported(format!("the variant {name}::{variant}")))
        }
        fn serialize_seq(self, len: Option<usize>) -> Result<ListSer, Unsupported> {
            Ok(ListSer(Vec::with_capacity(len.unwrap_or(0))))
        }
        fn serialize_tuple(self, len: usize) -> Result<ListSer, Unsupported> {
            Ok(ListSer(Vec::with_capacity(len)))
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            len: usize,
        ) -> Result<ListSer, Unsupported> {
            Ok(ListSer(Vec::with_capacity(len)))
        }
        fn serialize_tuple_variant(
            self,
            name: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Unsupported> {
            Err(Unsupported(format!("the variant {name}::{variant}")))
        }
        fn serialize_map(self, len: Option<usize>) -> Result<MapSer, Unsupported> {
            Ok(MapSer(Vec::with_capacity(len.unwrap_or(0)), None))
        }
        fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapSer, Unsupported> {
            Ok(MapSer(Vec::with_capacity(len), None))
        }
        fn serialize_struct_variant(
            self,
            name: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Unsupported> {
            Err(Unsupported(format!("the variant {name}::{variant}")))
        }
    }

    pub(super) struct ListSer(Vec<Tree>);

    impl ListSer {
        fn push<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.0.push(v.serialize(TreeSer)?);
            Ok(())
        }
    }

    impl ser::SerializeSeq for ListSer {
        type Ok = Tree;
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.push(v)
        }
        fn end(self) -> Result<Tree, Unsupported> {
            Ok(Tree::List(self.0))
        }
    }

    impl ser::SerializeTuple for ListSer {
        type Ok = Tree;
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.push(v)
        }
        fn end(self) -> Result<Tree, Unsupported> {
            Ok(Tree::List(self.0))
        }
    }

    impl ser::SerializeTupleStruct for ListSer {
        type Ok = Tree;
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.push(v)
        }
        fn end(self) -> Result<Tree, Unsupported> {
            Ok(Tree::List(self.0))
        }
    }

    /// Entries so far, and a key waiting for its value.
    pub(super) struct MapSer(Vec<(String, Tree)>, Option<String>);

    impl ser::SerializeMap for MapSer {
        type Ok = Tree;
        type Error = Unsupported;
        fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Unsupported> {
            match key.serialize(TreeSer)? {
                Tree::Scalar(ScalarValue::Str(s)) => {
                    self.1 = Some(s.to_string());
                    Ok(())
                }
                _ => Err(Unsupported("a map key that is not text".into())),
            }
        }
        fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            let key = self
                .1
                .take()
                .ok_or_else(|| Unsupported("a map value without its key".into()))?;
            self.0.push((key, v.serialize(TreeSer)?));
            Ok(())
        }
        fn end(self) -> Result<Tree, Unsupported> {
            Ok(Tree::Map(self.0))
        }
    }

    impl ser::SerializeStruct for MapSer {
        type Ok = Tree;
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Unsupported> {
            self.0.push((key.to_string(), v.serialize(TreeSer)?));
            Ok(())
        }
        fn end(self) -> Result<Tree, Unsupported> {
            Ok(Tree::Map(self.0))
        }
    }
}

// ---- the street-wide plan: secret, risk regions, duplicate persons ----

struct DuplicatePerson {
    name: String,
    gender: Gender,
    birth: Day,
    id_number: String,
    /// The two communities (indices) and where in each the person lives
    /// (a fraction of the household list).
    places: [(usize, f64); 2],
}

struct StreetPlan {
    secret: PersonKeySecret,
    secret_hex: String,
    actor: ActorId,
    risk_regions: Vec<RiskRegion>,
    duplicates: Vec<DuplicatePerson>,
}

impl StreetPlan {
    fn new(spec: &StreetSpec) -> StreetPlan {
        let mut rng = StdRng::seed_from_u64(stream_seed(spec.seed, 0));
        let secret_bytes: [u8; 32] = rng.random();
        let secret = PersonKeySecret::new(secret_bytes.to_vec()).expect("32 bytes is enough");
        let actor = ActorId::from(&rng.random::<[u8; 16]>()[..]);
        let first = spec.first_day();
        let span = u64::from(spec.days);
        let region =
            |rng: &mut StdRng, name: &str, level: RiskLevel, from: Day, to: Option<Day>| {
                RiskRegion {
                    id: new_id_street(rng),
                    region: name.to_string(),
                    level,
                    from: Date(from),
                    to: to.map(Date),
                }
            };
        let risk_regions = vec![
            region(
                &mut rng,
                "北京市朝阳区",
                RiskLevel::High,
                first - Days::new(10),
                None,
            ),
            region(
                &mut rng,
                "上海市浦东新区",
                RiskLevel::High,
                first + Days::new(span / 3),
                None,
            ),
            region(
                &mut rng,
                "广州市番禺区",
                RiskLevel::Medium,
                first - Days::new(5),
                None,
            ),
            region(
                &mut rng,
                "西安市雁塔区",
                RiskLevel::Medium,
                first - Days::new(20),
                Some(first + Days::new(span / 2)),
            ),
            region(
                &mut rng,
                "成都市武侯区",
                RiskLevel::Low,
                first - Days::new(3),
                None,
            ),
            region(
                &mut rng,
                "天津市津南区",
                RiskLevel::Low,
                first + Days::new(span * 2 / 3),
                None,
            ),
        ];
        let mut used = HashSet::new();
        let duplicates = (0..DUPLICATE_PERSONS)
            .map(|k| {
                let gender = if rng.random_bool(0.5) {
                    Gender::Male
                } else {
                    Gender::Female
                };
                let age = rng.random_range(25..70);
                let birth = birth_date(&mut rng, spec.as_of, age);
                // Sequence digits 900–999 are the street's own: no
                // community's resident can have the same number.
                let id_number = id_number(&mut rng, birth, gender, 90..100, &mut used);
                let a = k % COMMUNITY_COUNT;
                let b = (k + 1 + k % 3) % COMMUNITY_COUNT;
                DuplicatePerson {
                    name: person_name(&mut rng, gender),
                    gender,
                    birth,
                    id_number,
                    places: [(a, rng.random()), (b, rng.random())],
                }
            })
            .collect();
        StreetPlan {
            secret,
            secret_hex: hex::encode(secret_bytes),
            actor,
            risk_regions,
            duplicates,
        }
    }

    /// The highest level of the regions covering `origin` on `day`.
    fn risk_on(&self, origin: &str, day: Day) -> Option<RiskLevel> {
        self.risk_regions
            .iter()
            .filter(|r| r.region == origin && r.from.0 <= day && r.to.is_none_or(|t| day <= t.0))
            .map(|r| r.level)
            .max()
    }
}

fn new_id_street(rng: &mut StdRng) -> String {
    street::StreetKind::RiskRegion
        .new_id(rng.random())
        .unwrap_or_default()
}

/// A valid 18-character ID number born on `birth`, unique in `used`, with
/// sequence digits whose first two lie in `block` (so that two generators
/// with disjoint blocks never make the same number).
fn id_number(
    rng: &mut StdRng,
    birth: Day,
    gender: Gender,
    block: std::ops::Range<u32>,
    used: &mut HashSet<String>,
) -> String {
    let area = pick(rng, AREA_CODES);
    let parity = match gender {
        Gender::Male => 1,
        Gender::Female => 0,
    };
    let width = block.end - block.start;
    let start = rng.random_range(0..width * 5);
    // Every (area, date) has width × 5 numbers per gender: try them all in
    // turn from a random start, then other areas.
    for a in std::iter::once(area).chain(AREA_CODES.iter().copied()) {
        for i in 0..width * 5 {
            let k = (start + i) % (width * 5);
            let seq = (block.start + k / 5) * 10 + (k % 5) * 2 + parity;
            let first17 = format!("{a}{}{seq:03}", birth.format("%Y%m%d"));
            if used.contains(&first17) {
                continue;
            }
            let check = id_check_char(&first17).unwrap_or('0');
            used.insert(first17.clone());
            return format!("{first17}{check}");
        }
    }
    // Unreachable in practice (millions of numbers per birth date); a
    // duplicate would show as a validation error in the tests.
    let first17 = format!("{area}{}{:03}", birth.format("%Y%m%d"), block.start * 10);
    let check = id_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// The street document: communities, risk regions, a notice, task forces.
fn build_street(spec: &StreetSpec, plan: &StreetPlan) -> Result<Built, DemoStreetError> {
    let mut rng = StdRng::seed_from_u64(stream_seed(spec.seed, 100));
    let mut doc = DocBuilder::new(&DocId::Street, plan.actor.clone());
    for d in &COMMUNITIES {
        let rec = StreetCommunity {
            id: d.id.to_string(),
            name: d.name.to_string(),
            kind: d.kind,
        };
        doc.put("communities", &rec.id, &rec)?;
    }
    for r in &plan.risk_regions {
        doc.put("risk_regions", &r.id, r)?;
    }
    let notice = StreetNotice {
        id: street::StreetKind::Notice
            .new_id(rng.random())
            .unwrap_or_default(),
        title: "关于进一步做好疫情防控网格化管理工作的通知".into(),
        body: "各社区、村：请严格落实五级分包责任，坚持每日拉网排查、每日上报；\
               对中高风险地区返郑人员落实居家隔离措施，对独居老人按时走访。"
            .into(),
        published_at_ms: (day_start_ms(spec.first_day()) + 9 * HOUR_MS).min(spec.now_ms),
    };
    doc.put("notices", &notice.id, &notice)?;
    for name in [
        "卡口值守专班",
        "排查管控专班",
        "核酸检测专班",
        "人员转运专班",
        "物资保障专班",
        "宣传引导专班",
    ] {
        let n = rng.random_range(5..13);
        let mut members: Vec<String> = Vec::with_capacity(n);
        while members.len() < n {
            let m = any_name(&mut rng);
            if !members.contains(&m) {
                members.push(m);
            }
        }
        let tf = TaskForce {
            id: street::StreetKind::TaskForce
                .new_id(rng.random())
                .unwrap_or_default(),
            name: name.into(),
            members,
        };
        doc.put("task_forces", &tf.id, &tf)?;
    }
    Ok(doc.finish(spec))
}

/// The street document of `spec`, as [`seed`] writes it.
pub fn street_document(spec: &StreetSpec) -> Result<AutoCommit, DemoStreetError> {
    spec.check()?;
    build_street(spec, &StreetPlan::new(spec))?.into_doc()
}

/// The street's person-key secret for `spec`, hex.
pub fn secret_hex(spec: &StreetSpec) -> String {
    StreetPlan::new(spec).secret_hex
}

// ---- one community ----

struct HouseholdGen {
    id: String,
    compound: usize,
    phone: Option<String>,
    /// The contracting member (an index into `Community::members`), if the
    /// household has a contract group.
    member: Option<usize>,
    residents: Vec<usize>,
}

struct CareGen {
    rel: CareRelationship,
    /// From this day on nobody visits (the overdue ones).
    neglected_from: Option<Day>,
}

/// What the day loop needs of a community, built with its registry.
struct Community {
    households: Vec<HouseholdGen>,
    resident_ids: Vec<String>,
    /// Whether the resident has already returned from elsewhere this month.
    returned: Vec<bool>,
    members: Vec<String>,
    compounds: Vec<String>,
    workers: Vec<Vec<(String, String)>>,
    volunteers: Vec<Vec<String>>,
    inspectors: Vec<String>,
    care: Vec<CareGen>,
}

/// Generates one community, handing over each document once it is
/// complete: the registry, then each day in order, then the cases.
fn build_community(
    spec: &StreetSpec,
    plan: &StreetPlan,
    index: usize,
    emit: &mut dyn FnMut(Built) -> Result<(), DemoStreetError>,
) -> Result<DemoCommunityInfo, DemoStreetError> {
    let def = &COMMUNITIES[index];
    let cid = community_id(def);
    let mut rng = StdRng::seed_from_u64(stream_seed(spec.seed, index as u64 + 1));
    let actor = ActorId::from(&rng.random::<[u8; 16]>()[..]);
    let mut counts = Counts::default();

    let mut registry = DocBuilder::new(&DocId::Registry(cid.clone()), actor.clone());
    let mut c = build_registry(spec, plan, index, &mut rng, &mut registry, &mut counts)?;
    emit(registry.finish(spec))?;

    let mut cases = DocBuilder::new(&DocId::Cases(cid.clone()), actor.clone());
    let mut day = spec.first_day();
    while day <= spec.as_of {
        let id = DocId::Activity(cid.clone(), day);
        let mut doc = DocBuilder::new(&id, actor.clone());
        build_day(
            spec,
            plan,
            &mut rng,
            &mut c,
            day,
            &mut doc,
            &mut cases,
            &mut counts,
        )?;
        emit(doc.finish(spec))?;
        counts.activity_days += 1;
        day = day + Days::new(1);
    }
    finish_cases(spec, &mut rng, &c, &mut cases, &mut counts)?;
    emit(cases.finish(spec))?;

    Ok(DemoCommunityInfo {
        id: cid,
        name: def.name.to_string(),
        kind: def.kind,
        compounds: counts.compounds as usize,
        households: counts.households as usize,
        residents: counts.residents as usize,
        counts,
    })
}

const ORDINALS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// Writes a record into its collection: `put!(doc, Kind::Household, rec)`.
macro_rules! put {
    ($doc:expr, $kind:expr, $rec:expr) => {
        $doc.put($kind.collection(), &$rec.id, &$rec)?
    };
}

fn build_registry(
    spec: &StreetSpec,
    plan: &StreetPlan,
    index: usize,
    rng: &mut StdRng,
    doc: &mut DocBuilder,
    counts: &mut Counts,
) -> Result<Community, DemoStreetError> {
    let def = &COMMUNITIES[index];
    let as_of = spec.as_of;
    doc.put_root(
        "community",
        &CommunityInfo {
            id: def.id.to_string(),
            name: def.name.to_string(),
            kind: def.kind,
        },
    )?;

    // Compounds (L3).
    let mut compounds = Vec::with_capacity(def.compounds);
    let mut number = rng.random_range(5..30);
    for k in 0..def.compounds {
        let (name, address) = match def.kind {
            CommunityKind::Community => {
                number += rng.random_range(2..12);
                (
                    format!("{}{number}号院", def.place),
                    format!("郑州市中原区{}{number}号", def.place),
                )
            }
            CommunityKind::Village => (
                format!("{}第{}村民组", def.place, ORDINALS[k % ORDINALS.len()]),
                format!("郑州市中原区{}", def.place),
            ),
        };
        let rec = Compound {
            id: new_id(rng, Kind::Compound),
            name,
            address: Some(address),
        };
        put!(doc, Kind::Compound, rec);
        compounds.push(rec.id);
    }
    counts.compounds = compounds.len() as u64;

    // Staff: a grid chief, two grid workers per compound, sent-down staff
    // for every other compound, a seconded cadre.
    let mut staff = Vec::new();
    let mut workers: Vec<Vec<(String, String)>> = vec![Vec::new(); compounds.len()];
    let mut inspectors = Vec::new();
    let mut add_staff = |rng: &mut StdRng,
                         role: StaffRole,
                         grid: Option<usize>,
                         dept: Option<String>| {
        let (term_start, term_end) = if role == StaffRole::SecondedCadre {
            let from = as_of - Days::new(rng.random_range(30..300));
            (Some(Date(from)), Some(Date(from + Days::new(365))))
        } else {
            (None, None)
        };
        let rec = Staff {
            id: new_id(rng, Kind::Staff),
            name: any_name(rng),
            role,
            phone: Some(mobile(rng)),
            grid_compound_id: grid.map(|g| compounds[g].clone()),
            department: dept,
            term_start,
            term_end,
        };
        match (role, grid) {
            (StaffRole::GridWorker, Some(g)) => workers[g].push((rec.id.clone(), rec.name.clone())),
            _ => inspectors.push(rec.name.clone()),
        }
        staff.push(rec);
    };
    add_staff(rng, StaffRole::GridChief, None, None);
    for g in 0..compounds.len() {
        add_staff(rng, StaffRole::GridWorker, Some(g), None);
        add_staff(rng, StaffRole::GridWorker, Some(g), None);
        if g % 2 == 0 {
            let dept = pick(rng, DEPARTMENTS).to_string();
            add_staff(rng, StaffRole::SentDown, Some(g), Some(dept));
        }
    }
    let university = pick(rng, UNIVERSITIES);
    add_staff(
        rng,
        StaffRole::SecondedCadre,
        None,
        Some(format!("{university}（挂职）")),
    );
    for s in &staff {
        put!(doc, Kind::Staff, s);
    }
    counts.staff = staff.len() as u64;

    // Volunteer teams (11 in the street) and their volunteers.
    let first_team: usize = COMMUNITIES[..index].iter().map(|d| d.volunteer_teams).sum();
    let mut volunteers: Vec<Vec<String>> = vec![Vec::new(); compounds.len()];
    for t in 0..def.volunteer_teams {
        let team = VolunteerTeam {
            id: new_id(rng, Kind::VolunteerTeam),
            name: TEAM_NAMES[(first_team + t) % TEAM_NAMES.len()].to_string(),
            leader: Some(any_name(rng)),
        };
        put!(doc, Kind::VolunteerTeam, team);
        counts.volunteer_teams += 1;
        for k in 0..rng.random_range(12..25) {
            let v = Volunteer {
                id: new_id(rng, Kind::Volunteer),
                name: any_name(rng),
                team_id: Some(team.id.clone()),
                phone: Some(mobile(rng)),
                post: rng.random_bool(0.6).then(|| pick(rng, POSTS).to_string()),
            };
            put!(doc, Kind::Volunteer, v);
            volunteers[k % compounds.len()].push(v.name);
            counts.volunteers += 1;
        }
    }

    // Households per compound, a few deliberately without a contract group,
    // and where the persons registered twice live.
    let total = spec.households_per_community;
    let weights: Vec<f64> = (0..compounds.len())
        .map(|_| rng.random_range(0.8..1.2))
        .collect();
    let wsum: f64 = weights.iter().sum();
    let mut per_compound: Vec<usize> = weights
        .iter()
        .map(|w| ((w / wsum) * total as f64) as usize)
        .collect();
    let assigned: usize = per_compound.iter().sum();
    if let Some(last) = per_compound.last_mut() {
        *last += total - assigned;
    }
    let gap_count = ((total as f64 * 0.003).round() as usize).max(1);
    let mut gaps = HashSet::new();
    while gaps.len() < gap_count {
        gaps.insert(rng.random_range(0..total));
    }
    let mut twice: BTreeMap<usize, Vec<&DuplicatePerson>> = BTreeMap::new();
    for d in &plan.duplicates {
        for (c, frac) in d.places {
            if c == index {
                let h = ((frac * total as f64) as usize).min(total - 1);
                twice.entry(h).or_default().push(d);
            }
        }
    }
    let block = (index as u32 * 12)..(index as u32 * 12 + 12);
    let mut used_numbers = HashSet::new();

    let mut c = Community {
        households: Vec::with_capacity(total),
        resident_ids: Vec::with_capacity(total * 3),
        returned: Vec::new(),
        members: Vec::new(),
        compounds,
        workers,
        volunteers,
        inspectors,
        care: Vec::new(),
    };
    // Per resident, for choosing party members: name, age, phone.
    let mut people: Vec<(String, u32, Option<String>)> = Vec::with_capacity(total * 3);

    let mut h_index = 0;
    for (ci, &n_h) in per_compound.iter().enumerate() {
        let compound_id = c.compounds[ci].clone();
        let n_b = n_h.div_ceil(24).max(1);
        for b in 0..n_b {
            let in_building = n_h / n_b + usize::from(b < n_h % n_b);
            if in_building == 0 {
                continue;
            }
            let building = Building {
                id: new_id(rng, Kind::Building),
                compound_id: compound_id.clone(),
                name: match def.kind {
                    CommunityKind::Community => format!("{}号楼", b + 1),
                    CommunityKind::Village => format!("第{}排", b + 1),
                },
            };
            put!(doc, Kind::Building, building);
            counts.buildings += 1;
            // Groups of ten households on average: ⌊n/10⌋ or ⌈n/10⌉ of them.
            let n_g = (in_building / 10
                + usize::from(rng.random_bool((in_building % 10) as f64 / 10.0)))
            .max(1);
            let mut j = 0;
            for g in 0..n_g {
                let in_group = in_building / n_g + usize::from(g < in_building % n_g);
                let group_id = new_id(rng, Kind::ContractGroup);
                let member_index = c.members.len();
                let first_hh = c.households.len();
                for _ in 0..in_group {
                    let gap = gaps.contains(&h_index);
                    let extra = twice.get(&h_index).map(Vec::as_slice).unwrap_or(&[]);
                    let hh_id = new_id(rng, Kind::Household);
                    let phone = if rng.random_bool(0.95) {
                        Some(mobile(rng))
                    } else {
                        Some(format!("0371-6{:07}", rng.random_range(0..10_000_000)))
                    };
                    let (unit, door) = match def.kind {
                        CommunityKind::Community => (
                            format!("{}", j / 12 + 1),
                            format!("{}{:02}", (j % 12) / 2 + 1, j % 2 + 1),
                        ),
                        CommunityKind::Village => (String::new(), format!("{}", j + 1)),
                    };
                    let residents = make_residents(
                        rng,
                        plan,
                        as_of,
                        &hh_id,
                        extra,
                        &block,
                        &mut used_numbers,
                        doc,
                        &mut c,
                        &mut people,
                        ci,
                        counts,
                    )?;
                    let head_name = people[residents[0]].0.clone();
                    let rec = Household {
                        id: hh_id.clone(),
                        compound_id: compound_id.clone(),
                        building_id: building.id.clone(),
                        unit,
                        door,
                        head_name,
                        phone: phone.clone(),
                        contract_group_id: (!gap).then(|| group_id.clone()),
                    };
                    put!(doc, Kind::Household, rec);
                    counts.households += 1;
                    counts.households_without_group += u64::from(gap);
                    c.households.push(HouseholdGen {
                        id: hh_id,
                        compound: ci,
                        phone,
                        member: (!gap).then_some(member_index),
                        residents,
                    });
                    j += 1;
                    h_index += 1;
                }
                // The contracting party member: a resident of one of the
                // group's households, or someone in service elsewhere.
                let roll = rng.random_range(0..100);
                // About 300 in-service members in the street (DOMAIN.md).
                let mut kind = match roll {
                    0..56 => PartyMemberKind::SelfManaged,
                    56..86 => PartyMemberKind::ResidentBased,
                    _ => PartyMemberKind::InService,
                };
                let lives_here = match kind {
                    PartyMemberKind::SelfManaged => true,
                    PartyMemberKind::ResidentBased => rng.random_bool(0.5),
                    PartyMemberKind::InService => rng.random_bool(0.4),
                };
                let group_hh = &c.households[first_hh..];
                let resident = lives_here
                    .then(|| {
                        let start = rng.random_range(0..group_hh.len());
                        (0..group_hh.len())
                            .map(|k| group_hh[(start + k) % group_hh.len()].residents[0])
                            .find(|&r| (22..=75).contains(&people[r].1))
                    })
                    .flatten();
                if resident.is_none() && kind == PartyMemberKind::SelfManaged {
                    kind = PartyMemberKind::InService;
                }
                let (name, phone) = match resident {
                    Some(r) => (
                        people[r].0.clone(),
                        people[r].2.clone().or_else(|| Some(mobile(rng))),
                    ),
                    None => (any_name(rng), Some(mobile(rng))),
                };
                let member = PartyMember {
                    id: new_id(rng, Kind::PartyMember),
                    name,
                    kind,
                    phone,
                    resident_id: resident.map(|r| c.resident_ids[r].clone()),
                    workplace: match kind {
                        PartyMemberKind::SelfManaged => None,
                        PartyMemberKind::ResidentBased => Some(pick(rng, STATIONED_UNITS).into()),
                        PartyMemberKind::InService => Some(pick(rng, WORKPLACES).into()),
                    },
                };
                put!(doc, Kind::PartyMember, member);
                counts.party_members += 1;
                counts.party_members_in_service += u64::from(kind == PartyMemberKind::InService);
                let group = ContractGroup {
                    id: group_id,
                    party_member_id: member.id,
                    name: Some(format!("{}第{}联包组", building.name, g + 1)),
                };
                put!(doc, Kind::ContractGroup, group);
                counts.contract_groups += 1;
                c.members.push(member.name);
            }
        }
    }
    c.returned = vec![false; c.resident_ids.len()];
    counts.residents = c.resident_ids.len() as u64;
    Ok(c)
}

/// The residents of one household (and, for an elderly person living
/// alone, their care relationship); returns their indices.
#[allow(clippy::too_many_arguments)]
fn make_residents(
    rng: &mut StdRng,
    plan: &StreetPlan,
    as_of: Day,
    household_id: &str,
    registered_twice: &[&DuplicatePerson],
    block: &std::ops::Range<u32>,
    used_numbers: &mut HashSet<String>,
    doc: &mut DocBuilder,
    c: &mut Community,
    people: &mut Vec<(String, u32, Option<String>)>,
    compound: usize,
    counts: &mut Counts,
) -> Result<Vec<usize>, DemoStreetError> {
    let elderly_alone = registered_twice.is_empty() && rng.random_bool(0.09);
    let size = if elderly_alone {
        1
    } else {
        let n = [1, 2, 3, 3, 3, 3, 4, 4, 4, 5][rng.random_range(0..10)];
        if registered_twice.is_empty() {
            n
        } else {
            n.max(2)
        }
    };
    let head_age: u32 = if elderly_alone {
        rng.random_range(70..=92)
    } else if size == 1 {
        rng.random_range(22..=59)
    } else {
        rng.random_range(25..=85)
    };
    let head_gender = if rng.random_bool(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    let head_name = person_name(rng, head_gender);
    let surname: String = head_name.chars().take(1).collect();
    let mut out = Vec::with_capacity(size + registered_twice.len());
    for r in 0..size {
        let (age, gender, relation, name) = if r == 0 {
            (head_age, head_gender, "本人", head_name.clone())
        } else if r == 1 {
            let g = match head_gender {
                Gender::Male => Gender::Female,
                Gender::Female => Gender::Male,
            };
            let age = (head_age + rng.random_range(0..9))
                .saturating_sub(4)
                .clamp(20, 95);
            (age, g, "配偶", person_name(rng, g))
        } else {
            let g = if rng.random_bool(0.5) {
                Gender::Male
            } else {
                Gender::Female
            };
            let given = pick(
                rng,
                match g {
                    Gender::Male => GIVEN_MALE,
                    Gender::Female => GIVEN_FEMALE,
                },
            );
            if head_age >= 60 && r >= 3 && rng.random_bool(0.5) {
                (
                    rng.random_range(0..=15),
                    g,
                    "孙子女",
                    format!("{surname}{given}"),
                )
            } else if head_age <= 50 && r == 4 && rng.random_bool(0.5) {
                let age = (head_age + rng.random_range(22..=30)).min(95);
                (age, g, "父母", person_name(rng, g))
            } else {
                let age = head_age.saturating_sub(rng.random_range(22..=34));
                (age, g, "子女", format!("{surname}{given}"))
            }
        };
        let birth = birth_date(rng, as_of, age);
        let number = id_number(rng, birth, gender, block.clone(), used_numbers);
        let phone =
            (r > 0 && (16..=75).contains(&age) && rng.random_bool(0.5)).then(|| mobile(rng));
        let rec = Resident {
            id: new_id(rng, Kind::Resident),
            household_id: household_id.to_string(),
            name,
            person_key: Some(
                PersonKey::derive(&plan.secret, &number)
                    .as_str()
                    .to_string(),
            ),
            id_number: Some(number),
            gender: Some(gender),
            birth_date: Some(Date(birth)),
            phone: phone.clone(),
            relation: Some(relation.to_string()),
            lives_alone: size == 1,
        };
        put!(doc, Kind::Resident, rec);
        if elderly_alone {
            counts.elderly_alone += 1;
            let visitor = if rng.random_bool(0.7) || c.volunteers[compound].is_empty() {
                let w = &c.workers[compound];
                w[rng.random_range(0..w.len())].1.clone()
            } else {
                let v = &c.volunteers[compound];
                v[rng.random_range(0..v.len())].clone()
            };
            let since = as_of - Days::new(rng.random_range(40..400));
            let neglected_from = rng
                .random_bool(0.08)
                .then(|| as_of - Days::new(rng.random_range(2..=5)));
            c.care.push(CareGen {
                rel: CareRelationship {
                    id: new_id(rng, Kind::CareRelationship),
                    resident_id: rec.id.clone(),
                    visitor,
                    every_days: 2,
                    since: Date(since),
                    last_visit: None,
                    ended_on: None,
                },
                neglected_from,
            });
        }
        out.push(c.resident_ids.len());
        c.resident_ids.push(rec.id);
        people.push((rec.name, age, phone));
    }
    for d in registered_twice {
        let rec = Resident {
            id: new_id(rng, Kind::Resident),
            household_id: household_id.to_string(),
            name: d.name.clone(),
            person_key: Some(
                PersonKey::derive(&plan.secret, &d.id_number)
                    .as_str()
                    .to_string(),
            ),
            id_number: Some(d.id_number.clone()),
            gender: Some(d.gender),
            birth_date: Some(Date(d.birth)),
            phone: None,
            relation: Some("其他".into()),
            lives_alone: false,
        };
        put!(doc, Kind::Resident, rec);
        out.push(c.resident_ids.len());
        c.resident_ids.push(rec.id);
        people.push((rec.name, 0, None));
    }
    Ok(out)
}

/// One day of work: screening visits, care visits and inspections into the
/// day's document; returnees, isolations and tickets into the cases.
#[allow(clippy::too_many_arguments)]
fn build_day(
    spec: &StreetSpec,
    plan: &StreetPlan,
    rng: &mut StdRng,
    c: &mut Community,
    day: Day,
    doc: &mut DocBuilder,
    cases: &mut DocBuilder,
    counts: &mut Counts,
) -> Result<(), DemoStreetError> {
    let start = day_start_ms(day);
    let today = day == spec.as_of;
    let lo = start + 8 * HOUR_MS;
    let hi = if today {
        (start + 20 * HOUR_MS).min(spec.now_ms)
    } else {
        start + 20 * HOUR_MS
    };
    let open = hi > lo;
    let screen_p = if today { 0.60 } else { 0.93 };

    if open {
        for h in 0..c.households.len() {
            if !rng.random_bool(screen_p) {
                continue;
            }
            let hh = &c.households[h];
            let visit_id = activity_id(rng, Kind::ScreeningVisit, day);
            // The contracting member mostly, else a grid worker or a volunteer.
            let roll = rng.random_range(0..100);
            let visitor = match hh.member {
                Some(m) if roll < 65 => c.members[m].clone(),
                _ if roll < 90 || c.volunteers[hh.compound].is_empty() => {
                    let w = &c.workers[hh.compound];
                    w[rng.random_range(0..w.len())].1.clone()
                }
                _ => {
                    let v = &c.volunteers[hh.compound];
                    v[rng.random_range(0..v.len())].clone()
                }
            };
            let returnee_slot = rng
                .random_bool(0.0035)
                .then(|| rng.random_range(0..hh.residents.len()));
            let mut residents = BTreeMap::new();
            let mut notes = None;
            for (k, &r) in hh.residents.iter().enumerate() {
                let rid = &c.resident_ids[r];
                let entry = if returnee_slot == Some(k) && !c.returned[r] {
                    c.returned[r] = true;
                    let on = day - Days::new(rng.random_range(0..=1));
                    let origin = origin(rng, plan);
                    let returnee = Returnee {
                        id: returnee_id(rid, on),
                        resident_id: rid.clone(),
                        returned_on: Date(on),
                        from_region: origin.clone(),
                        visit_id: Some(visit_id.clone()),
                    };
                    put!(cases, Kind::Returnee, returnee);
                    counts.returnees += 1;
                    if let Some(level @ (RiskLevel::High | RiskLevel::Medium)) =
                        plan.risk_on(&origin, on)
                    {
                        isolate(spec, rng, cases, rid, on, &origin, level, counts)?;
                    }
                    notes = Some(format!("{origin}返回人员已登记"));
                    ScreeningEntry {
                        status: ScreeningStatus::Returned,
                        returned_from: Some(origin),
                        returned_on: Some(Date(on)),
                    }
                } else {
                    let away = rng.random_bool(0.03);
                    ScreeningEntry {
                        status: if away {
                            ScreeningStatus::Away
                        } else {
                            ScreeningStatus::Present
                        },
                        returned_from: None,
                        returned_on: None,
                    }
                };
                residents.insert(rid.clone(), entry);
            }
            let visit = ScreeningVisit {
                id: visit_id,
                household_id: hh.id.clone(),
                visited_at_ms: rng.random_range(lo..hi),
                visitor,
                residents,
                notes,
            };
            put!(doc, Kind::ScreeningVisit, visit);
            counts.screening_visits += 1;
            counts.screened_on_as_of += u64::from(today);
        }

        // Care visits: every two days, a few skipped, the neglected ones
        // not at all in their last days.
        for cg in c.care.iter_mut() {
            if cg.rel.since.0 > day || cg.neglected_from.is_some_and(|n| day >= n) {
                continue;
            }
            let p = match cg.rel.last_visit.map(|l| (day - l.0).num_days()) {
                None => 0.7,
                Some(g) if g >= 3 => 1.0,
                Some(2) => 0.92,
                Some(_) => 0.08,
            };
            if !rng.random_bool(p) {
                continue;
            }
            let visit = CareVisit {
                id: activity_id(rng, Kind::CareVisit, day),
                relationship_id: cg.rel.id.clone(),
                visited_at_ms: rng.random_range(lo..hi),
                visitor: cg.rel.visitor.clone(),
                notes: rng
                    .random_bool(0.5)
                    .then(|| pick(rng, CARE_NOTES).to_string()),
            };
            put!(doc, Kind::CareVisit, visit);
            cg.rel.last_visit = Some(Date(day));
            counts.care_visits += 1;
        }

        // Spot checks of about 2% of the households.
        for hh in &c.households {
            if !rng.random_bool(0.02) {
                continue;
            }
            let knew = hh.member.is_some() && rng.random_bool(0.95);
            let rec = Inspection {
                id: activity_id(rng, Kind::Inspection, day),
                household_id: hh.id.clone(),
                method: if rng.random_bool(0.6) {
                    InspectionMethod::Visit
                } else {
                    InspectionMethod::Phone
                },
                inspected_at_ms: rng.random_range(lo..hi),
                inspector: c.inspectors[rng.random_range(0..c.inspectors.len())].clone(),
                knew_member: knew,
                notes: if knew {
                    rng.random_bool(0.3)
                        .then(|| pick(rng, INSPECTION_NOTES).to_string())
                } else {
                    Some("不清楚自己的联包党员".into())
                },
            };
            put!(doc, Kind::Inspection, rec);
            counts.inspections += 1;
            counts.inspections_knew_member += u64::from(knew);
        }
    }

    // Tickets: about one household in 300 calls a day, around the clock
    // (the hotline answers 24 hours), mostly in the daytime.
    for hh in &c.households {
        if !rng.random_bool(1.0 / 300.0) {
            continue;
        }
        let received = if rng.random_bool(0.85) {
            start + rng.random_range(7 * HOUR_MS..22 * HOUR_MS)
        } else {
            start + rng.random_range(0..24 * HOUR_MS)
        };
        if received > spec.now_ms {
            continue;
        }
        let channel = match rng.random_range(0..100) {
            0..75 => TicketChannel::Hotline,
            75..92 => TicketChannel::ChatGroup,
            _ => TicketChannel::Patrol,
        };
        let (category, summary, resolution) = TICKET_KINDS[rng.random_range(0..TICKET_KINDS.len())];
        let resolved_at = (!rng.random_bool(0.03))
            .then(|| {
                let hours = 0.5 * 160f64.powf(rng.random::<f64>());
                received + (hours * HOUR_MS as f64) as i64
            })
            .filter(|&at| at <= spec.now_ms);
        let workers = &c.workers[hh.compound];
        let ticket = Ticket {
            id: new_id(rng, Kind::Ticket),
            received_at_ms: received,
            channel,
            category: category.into(),
            summary: summary.into(),
            caller_phone: if channel == TicketChannel::Patrol {
                None
            } else {
                hh.phone.clone()
            },
            assigned_compound_id: Some(c.compounds[hh.compound].clone()),
            assigned_staff_id: Some(workers[rng.random_range(0..workers.len())].0.clone()),
            resolved_at_ms: resolved_at,
            resolution: resolved_at.map(|_| resolution.to_string()),
        };
        put!(cases, Kind::Ticket, ticket);
        counts.tickets += 1;
        counts.tickets_open += u64::from(resolved_at.is_none());
    }
    Ok(())
}

/// Where a returnee came from: a risk region of the street or elsewhere.
fn origin(rng: &mut StdRng, plan: &StreetPlan) -> String {
    let level = match rng.random_range(0..100) {
        0..12 => Some(RiskLevel::High),
        12..30 => Some(RiskLevel::Medium),
        30..45 => Some(RiskLevel::Low),
        _ => None,
    };
    let regions: Vec<&RiskRegion> = plan
        .risk_regions
        .iter()
        .filter(|r| Some(r.level) == level)
        .collect();
    if regions.is_empty() {
        pick(rng, OTHER_ORIGINS).to_string()
    } else {
        regions[rng.random_range(0..regions.len())].region.clone()
    }
}

/// A home isolation for a returnee from a medium- or high-risk region: 14
/// or 7 days; most of those ended by `as_of` are released, a few are not.
#[allow(clippy::too_many_arguments)]
fn isolate(
    spec: &StreetSpec,
    rng: &mut StdRng,
    cases: &mut DocBuilder,
    resident_id: &str,
    start: Day,
    origin: &str,
    level: RiskLevel,
    counts: &mut Counts,
) -> Result<(), DemoStreetError> {
    let (days, level_name) = match level {
        RiskLevel::High => (14, "高"),
        _ => (7, "中"),
    };
    let planned_end = start + Days::new(days);
    let released_on = (planned_end <= spec.as_of && rng.random_bool(0.8)).then_some(planned_end);
    let door_device = match (level, rng.random_range(0..10)) {
        (RiskLevel::High, 0..5) => DoorDevice::Lock,
        (RiskLevel::High, _) | (_, 0..6) => DoorDevice::Sensor,
        _ => DoorDevice::None,
    };
    let rec = Isolation {
        id: new_id(rng, Kind::Isolation),
        resident_id: resident_id.to_string(),
        start: Date(start),
        planned_end: Date(planned_end),
        door_device,
        released_on: released_on.map(Date),
        reason: Some(format!("自{origin}返回（{level_name}风险地区）")),
    };
    put!(cases, Kind::Isolation, rec);
    counts.isolations += 1;
    if released_on.is_none() {
        counts.isolating += 1;
        counts.isolations_past_end += u64::from(planned_end < spec.as_of);
    }
    Ok(())
}

/// The cases written once the days are done: care relationships with their
/// last visit, and the community's notices.
fn finish_cases(
    spec: &StreetSpec,
    rng: &mut StdRng,
    c: &Community,
    cases: &mut DocBuilder,
    counts: &mut Counts,
) -> Result<(), DemoStreetError> {
    for cg in &c.care {
        put!(cases, Kind::CareRelationship, cg.rel);
        counts.care_relationships += 1;
        let from = cg.rel.last_visit.unwrap_or(cg.rel.since).0;
        let due = from + Days::new(u64::from(cg.rel.every_days));
        counts.care_overdue += u64::from(spec.as_of > due);
    }
    let first = spec.first_day();
    let notices: [(&str, &str, &[NoticeChannel], Option<usize>); 3] = [
        (
            "全员核酸检测安排",
            "请各楼院居民按楼栋顺序到指定地点进行核酸检测，保持一米间距，全程佩戴口罩。",
            &[NoticeChannel::Loudspeaker, NoticeChannel::CompoundChat],
            None,
        ),
        (
            "返郑人员报备提醒",
            "从外地返郑人员请提前向所在楼院网格员报备，中高风险地区返回人员落实居家隔离。",
            &[NoticeChannel::CompoundChat, NoticeChannel::MemberGroup],
            None,
        ),
        (
            "楼院消杀通知",
            "本周六上午对楼道、电梯和垃圾站进行集中消杀，请居民关好门窗。",
            &[NoticeChannel::Loudspeaker],
            Some(rng.random_range(0..c.compounds.len())),
        ),
    ];
    for (k, (title, body, channels, compound)) in notices.into_iter().enumerate() {
        let day = (first + Days::new(k as u64 * u64::from(spec.days) / 3)).min(spec.as_of);
        let rec = Notice {
            id: new_id(rng, Kind::Notice),
            title: title.into(),
            body: body.into(),
            channels: channels.to_vec(),
            published_at_ms: (day_start_ms(day) + 9 * HOUR_MS).min(spec.now_ms),
            compound_id: compound.map(|i| c.compounds[i].clone()),
        };
        put!(cases, Kind::Notice, rec);
        counts.notices += 1;
    }
    Ok(())
}

// ---- in memory ----

/// One community of the street, in memory: its replica (registry, cases and
/// every day loaded) and what it holds. `index` is its place in
/// [`communities`].
pub fn generate_community(
    spec: &StreetSpec,
    index: usize,
) -> Result<(CommunityReplica, DemoCommunityInfo), DemoStreetError> {
    spec.check()?;
    if index >= COMMUNITY_COUNT {
        return Err(DemoStreetError::Spec(format!(
            "community index {index}: the street has {COMMUNITY_COUNT} communities"
        )));
    }
    let plan = StreetPlan::new(spec);
    let (mut registry, mut cases, mut days) = (None, None, Vec::new());
    let info = build_community(spec, &plan, index, &mut |built| {
        match built.id.clone() {
            DocId::Registry(_) => registry = Some(built.into_doc()?),
            DocId::Cases(_) => cases = Some(built.into_doc()?),
            DocId::Activity(_, d) => days.push((d, built.into_doc()?)),
            DocId::Street => {}
        }
        Ok(())
    })?;
    let (Some(registry), Some(cases)) = (registry, cases) else {
        unreachable!("build_community emits a registry and a cases document");
    };
    let actor = registry.get_actor().clone();
    let mut replica = CommunityReplica::from_docs(
        info.id.clone(),
        actor,
        Some(plan.secret.clone()),
        registry,
        cases,
    )?;
    for (d, doc) in days {
        replica.attach_day(d, doc)?;
    }
    Ok((replica, info))
}

// ---- into the stores ----

/// Opens the store at `path` (creating its directory), which must hold no
/// document yet.
fn open_empty(path: &Path) -> Result<Store, DemoStreetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| DemoStreetError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let store = Store::open(path)?;
    if !store.doc_heads()?.is_empty() {
        return Err(DemoStreetError::NotEmpty(path.to_path_buf()));
    }
    Ok(store)
}

struct Saved {
    id: DocId,
    bytes: Vec<u8>,
    heads: Vec<automerge::ChangeHash>,
}

impl Saved {
    /// The working set that the services load all the time (registry,
    /// cases, today and yesterday, the street) as a compacted snapshot; an
    /// earlier day as its change chunks, which cost several times less to
    /// make and about two and a half times more to load, on the rare
    /// occasion a past day is loaded.
    fn of(built: Built, as_of: Day) -> Result<Saved, DemoStreetError> {
        let working_set = match built.id {
            DocId::Activity(_, day) => (as_of - day).num_days() <= 1,
            _ => true,
        };
        if !working_set {
            return Ok(built.into_saved());
        }
        let id = built.id.clone();
        let mut doc = built.into_doc()?;
        let bytes = doc.save();
        let heads = doc.get_heads();
        Ok(Saved { id, bytes, heads })
    }
    fn write(&self) -> DocWrite {
        DocWrite {
            id: self.id.clone(),
            bytes: self.bytes.clone(),
            heads: self.heads.clone(),
        }
    }
}

struct CommunityDone {
    index: usize,
    info: DemoCommunityInfo,
    docs: Vec<Saved>,
    generate: Duration,
    save: Duration,
    write_node: Duration,
}

fn audit(spec: &StreetSpec) -> Audit<'static> {
    Audit {
        at_ms: spec.now_ms,
        actor: "demo-street",
        action: "seed the demo street",
    }
}

/// Generates one community and writes it (with the street document) into
/// its node's store.
fn seed_community(
    spec: &StreetSpec,
    plan: &StreetPlan,
    index: usize,
    node_db: &Path,
    street: &Saved,
) -> Result<CommunityDone, DemoStreetError> {
    let started = Instant::now();
    let mut docs = Vec::new();
    let mut save = Duration::ZERO;
    let info = build_community(spec, plan, index, &mut |built| {
        let t = Instant::now();
        docs.push(Saved::of(built, spec.as_of)?);
        save += t.elapsed();
        Ok(())
    })?;
    let generate = started.elapsed().saturating_sub(save);
    let t = Instant::now();
    let mut store = Store::open(node_db)?;
    store.claim_community(info.id.as_str())?;
    let mut writes: Vec<DocWrite> = docs.iter().map(Saved::write).collect();
    writes.push(street.write());
    store.commit(&writes, &[], Some(&audit(spec)))?;
    store.checkpoint()?;
    Ok(CommunityDone {
        index,
        info,
        docs,
        generate,
        save,
        write_node: t.elapsed(),
    })
}

/// Generates the street of `spec` and writes it into the coordinator's
/// store (`coordinator_data_dir`/[`COORDINATOR_DB_FILE`]) and each
/// community's node store (`node_data_dir(community)`/[`NODE_DB_FILE`]).
///
/// Every store must be new or empty; directories are created. Each node's
/// store gets its community's documents and the street document, the
/// coordinator's store all of them, byte for byte the same, with their
/// heads, so the services open them already in sync. On an error the
/// stores may hold part of the street: delete them before trying again.
pub fn seed(
    spec: &StreetSpec,
    coordinator_data_dir: &Path,
    node_data_dir: &dyn Fn(&CommunityId) -> PathBuf,
) -> Result<SeededStreet, DemoStreetError> {
    let started = Instant::now();
    spec.check()?;
    let mut timings = SeedTimings::default();
    let node_dbs: Vec<PathBuf> = communities()
        .iter()
        .map(|(id, _, _)| node_data_dir(id).join(NODE_DB_FILE))
        .collect();
    // Every store is checked before any work, so a used one refuses the
    // whole seeding rather than its part.
    for path in &node_dbs {
        drop(open_empty(path)?);
    }
    let mut coordinator = open_empty(&coordinator_data_dir.join(COORDINATOR_DB_FILE))?;
    coordinator.claim_street(STREET_ID)?;

    let t = Instant::now();
    let plan = StreetPlan::new(spec);
    let street = Saved::of(build_street(spec, &plan)?, spec.as_of)?;
    timings.street = t.elapsed();
    let t = Instant::now();
    coordinator.commit(&[street.write()], &[], Some(&audit(spec)))?;
    timings.write_coordinator += t.elapsed();

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut done: Vec<CommunityDone> = Vec::with_capacity(COMMUNITY_COUNT);
    let mut first_error: Option<DemoStreetError> = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Result<CommunityDone, DemoStreetError>>();
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let tx = tx.clone();
                let (next, stop, plan, street, node_dbs) =
                    (&next, &stop, &plan, &street, &node_dbs);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= COMMUNITY_COUNT {
                            break;
                        }
                        let r = seed_community(spec, plan, i, &node_dbs[i], street);
                        if r.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if tx.send(r).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        // The coordinator's store is written here, as communities finish.
        for r in rx {
            let result = r.and_then(|d| {
                let t = Instant::now();
                let writes: Vec<DocWrite> = d.docs.iter().map(Saved::write).collect();
                coordinator.commit(&writes, &[], Some(&audit(spec)))?;
                timings.write_coordinator += t.elapsed();
                Ok(d)
            });
            match result {
                Ok(mut d) => {
                    d.docs = Vec::new();
                    done.push(d);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
        for h in handles {
            if h.join().is_err() {
                first_error.get_or_insert(DemoStreetError::Worker);
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let t = Instant::now();
    coordinator.checkpoint()?;
    timings.write_coordinator += t.elapsed();
    done.sort_by_key(|d| d.index);
    let mut counts = Counts::default();
    let mut documents = 1;
    for d in &done {
        counts.add(&d.info.counts);
        timings.generate += d.generate;
        timings.save += d.save;
        timings.write_nodes += d.write_node;
        documents += 2 + d.info.counts.activity_days as usize;
    }
    timings.total = started.elapsed();
    Ok(SeededStreet {
        street_id: STREET_ID.to_string(),
        street_name: STREET_NAME.to_string(),
        secret_hex: plan.secret_hex.clone(),
        communities: done.into_iter().map(|d| d.info).collect(),
        counts,
        duplicate_persons: plan.duplicates.len(),
        documents,
        timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ReadDoc;
    use gridsync_core::docs::put_in;
    use gridsync_core::street::StreetView;

    fn spec() -> StreetSpec {
        let as_of = Day::from_ymd_opt(2026, 11, 29).unwrap();
        StreetSpec {
            seed: 3,
            households_per_community: 400,
            days: 6,
            as_of,
            now_ms: day_start_ms(as_of) + 15 * HOUR_MS,
        }
    }

    fn root(doc: &AutoCommit) -> automerge::hydrate::Value {
        doc.hydrate(automerge::ROOT, None).unwrap()
    }

    /// The builder writes what autosurgeon writes: every generated record,
    /// written again with the core's `put_in` into a fresh genesis, gives
    /// the same document content.
    #[test]
    fn the_builder_encodes_records_as_autosurgeon_does() {
        let spec = spec();
        let (mut replica, info) = generate_community(&spec, 0).unwrap();
        let actor = ActorId::from(&[7u8; 16][..]);
        let v = replica.view().clone();
        let mut registry = genesis(&DocId::Registry(info.id.clone()), actor.clone());
        let mut cases = genesis(&DocId::Cases(info.id.clone()), actor.clone());
        gridsync_core::docs::put_root(&mut registry, "community", v.community.as_ref().unwrap())
            .unwrap();
        macro_rules! rewrite {
            ($doc:expr, $src:expr; $($field:ident: $kind:ident),*) => {$(
                assert!(!$src.$field.is_empty(), "no {} generated", stringify!($field));
                for r in $src.$field.values() {
                    put_in(&mut $doc, Kind::$kind.collection(), &r.id, r).unwrap();
                }
            )*};
        }
        rewrite!(registry, v; compounds: Compound, buildings: Building,
            contract_groups: ContractGroup, households: Household, residents: Resident,
            party_members: PartyMember, staff: Staff, volunteer_teams: VolunteerTeam,
            volunteers: Volunteer);
        rewrite!(cases, v; isolations: Isolation, care_relationships: CareRelationship,
            tickets: Ticket, returnees: Returnee, notices: Notice);
        for (id, doc) in [
            (DocId::Registry(info.id.clone()), &mut registry),
            (DocId::Cases(info.id.clone()), &mut cases),
        ] {
            doc.commit();
            let built = replica.doc_mut(&id).unwrap();
            assert_eq!(root(built), root(doc), "{id}");
        }
        for day in replica.loaded_days() {
            let dv = replica.day_view(day).unwrap().clone();
            let id = DocId::Activity(info.id.clone(), day);
            let mut doc = genesis(&id, actor.clone());
            rewrite!(doc, dv; screening_visits: ScreeningVisit, care_visits: CareVisit,
                inspections: Inspection);
            doc.commit();
            assert_eq!(root(replica.doc_mut(&id).unwrap()), root(&doc), "{id}");
        }

        let built = street_document(&spec).unwrap();
        let sv = StreetView::read(&built);
        let mut doc = genesis(&DocId::Street, actor);
        for r in &sv.communities {
            put_in(&mut doc, "communities", &r.id, r).unwrap();
        }
        for r in &sv.risk_regions {
            put_in(&mut doc, "risk_regions", &r.id, r).unwrap();
        }
        for r in &sv.notices {
            put_in(&mut doc, "notices", &r.id, r).unwrap();
        }
        for r in &sv.task_forces {
            put_in(&mut doc, "task_forces", &r.id, r).unwrap();
        }
        doc.commit();
        assert_eq!(root(&built), root(&doc));
    }

    #[test]
    fn a_spec_out_of_range_is_refused_with_the_reason() {
        let mut s = spec();
        s.households_per_community = 3;
        assert!(matches!(s.check(), Err(DemoStreetError::Spec(m)) if m.contains("households")));
        let mut s = spec();
        s.now_ms = day_start_ms(s.as_of) - 1;
        assert!(matches!(s.check(), Err(DemoStreetError::Spec(m)) if m.contains("now_ms")));
        let mut s = spec();
        s.days = 0;
        assert!(s.check().is_err());
        assert!(generate_community(&spec(), COMMUNITY_COUNT).is_err());
    }
}
