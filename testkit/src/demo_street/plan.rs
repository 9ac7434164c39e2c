//! The street-wide plan: the person-key secret, risk regions, the persons
//! registered in two communities; and the street document.

use super::*;

// ---- the street-wide plan: secret, risk regions, duplicate persons ----

pub(crate) struct DuplicatePerson {
    pub(crate) name: String,
    pub(crate) gender: Gender,
    pub(crate) birth: Day,
    pub(crate) id_number: String,
    /// The two communities (indices) and where in each the person lives
    /// (a fraction of the household list).
    pub(crate) places: [(usize, f64); 2],
}

pub(crate) struct StreetPlan {
    pub(crate) secret: PersonKeySecret,
    pub(crate) secret_hex: String,
    pub(crate) actor: ActorId,
    pub(crate) risk_regions: Vec<RiskRegion>,
    pub(crate) duplicates: Vec<DuplicatePerson>,
}

impl StreetPlan {
    pub(crate) fn new(spec: &StreetSpec) -> StreetPlan {
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
    pub(crate) fn risk_on(&self, origin: &str, day: Day) -> Option<RiskLevel> {
        self.risk_regions
            .iter()
            .filter(|r| r.region == origin && r.from.0 <= day && r.to.is_none_or(|t| day <= t.0))
            .map(|r| r.level)
            .max()
    }
}

pub(crate) fn new_id_street(rng: &mut StdRng) -> String {
    street::StreetKind::RiskRegion
        .new_id(rng.random())
        .unwrap_or_default()
}

/// A valid 18-character ID number born on `birth`, unique in `used`, with
/// sequence digits whose first two lie in `block` (so that two generators
/// with disjoint blocks never make the same number).
pub(crate) fn id_number(
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
pub(crate) fn build_street(spec: &StreetSpec, plan: &StreetPlan) -> Result<Built, DemoStreetError> {
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
