//! The street's fixed shape (its communities) and the names, places and
//! numbers people and records are drawn from.

use super::*;

// ---- the street's fixed shape ----

pub(crate) struct CommunityDef {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) kind: CommunityKind,
    pub(crate) compounds: usize,
    /// The road (or village) its compounds are named after.
    pub(crate) place: &'static str,
    pub(crate) volunteer_teams: usize,
}

pub(crate) const COMMUNITIES: [CommunityDef; 7] = [
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

pub(crate) fn community_id(d: &CommunityDef) -> CommunityId {
    CommunityId::parse(d.id).expect("the demo community ids are valid")
}

pub(crate) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜",
];
pub(crate) const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "建国", "志强", "国强", "建华",
    "俊", "鹏", "浩", "宇", "斌", "刚", "辉", "峰", "建军", "永红", "海涛", "子豪", "博文", "振华",
];
pub(crate) const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "秀英", "桂兰", "淑珍", "玉兰", "秀兰", "婷", "雪",
    "慧", "霞", "玲", "红梅", "晓燕", "丹", "欣怡", "雨涵", "佳怡", "凤英", "桂英",
];
/// Birth places (the first six digits of an ID number), Zhengzhou's first.
pub(crate) const AREA_CODES: &[&str] = &[
    "410102", "410102", "410102", "410102", "410103", "410104", "410105", "410181", "410122",
    "411302", "412724", "410702", "411023",
];
pub(crate) const DEPARTMENTS: &[&str] = &[
    "中原区卫生健康委员会",
    "中原区城市管理局",
    "中原区市场监督管理局",
    "中原区教育局",
    "中原区民政局",
];
pub(crate) const UNIVERSITIES: &[&str] = &["郑州大学", "河南工业大学", "河南财经政法大学"];
pub(crate) const WORKPLACES: &[&str] = &[
    "中原区人民法院",
    "郑州市第九人民医院",
    "国家税务总局郑州市中原区税务局",
    "中国铁路郑州局集团有限公司",
    "国网郑州供电公司",
    "郑州市第七中学",
    "中原区人民检察院",
];
pub(crate) const STATIONED_UNITS: &[&str] = &[
    "桐柏路小学",
    "中原区建设路派出所",
    "郑州市中心医院",
    "中原万达广场物业",
    "郑州煤矿机械集团",
];
pub(crate) const TEAM_NAMES: &[&str] = &[
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
pub(crate) const POSTS: &[&str] = &[
    "流动监督员（商场入口）",
    "卡口值守",
    "扫码测温",
    "物资配送",
    "核酸检测秩序维护",
    "入户排查",
];
/// Origins of returnees outside the street's risk regions.
pub(crate) const OTHER_ORIGINS: &[&str] = &[
    "河南省开封市",
    "河南省洛阳市",
    "河南省新乡市",
    "河南省许昌市",
    "湖北省武汉市",
    "山东省济南市",
    "江苏省南京市",
];
pub(crate) const TICKET_KINDS: &[(&str, &str, &str)] = &[
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
pub(crate) const INSPECTION_NOTES: &[&str] = &[
    "知道联包党员姓名，称其每天询问家中情况",
    "知道联包党员，曾帮忙代购生活物资",
    "能说出联包党员电话",
];
pub(crate) const CARE_NOTES: &[&str] = &[
    "送去蔬菜和挂面",
    "代买降压药",
    "测量血压，情况正常",
    "陪同聊天，帮助打扫卫生",
];

pub(crate) fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

pub(crate) fn person_name(rng: &mut StdRng, gender: Gender) -> String {
    let given = match gender {
        Gender::Male => GIVEN_MALE,
        Gender::Female => GIVEN_FEMALE,
    };
    format!("{}{}", pick(rng, SURNAMES), pick(rng, given))
}

pub(crate) fn any_name(rng: &mut StdRng) -> String {
    let g = if rng.random_bool(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    person_name(rng, g)
}

pub(crate) fn mobile(rng: &mut StdRng) -> String {
    let prefix = ["13", "15", "17", "18", "19"][rng.random_range(0..5)];
    format!(
        "{prefix}{}{:08}",
        rng.random_range(0..10),
        rng.random_range(0..100_000_000u32)
    )
}

pub(crate) fn new_id(rng: &mut StdRng, kind: Kind) -> String {
    kind.new_id(rng.random::<[u8; 8]>(), None)
}

pub(crate) fn activity_id(rng: &mut StdRng, kind: Kind, day: Day) -> String {
    kind.new_id(rng.random::<[u8; 8]>(), Some(day))
}

/// Midnight of `day` in Beijing, as Unix ms.
pub(crate) fn day_start_ms(day: Day) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    TIME_ZONE
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
        // China has kept UTC+8 without daylight saving since 1991.
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis() - 8 * 3_600_000)
}

pub(crate) const HOUR_MS: i64 = 3_600_000;

/// A date `years` years and some days before `on`.
pub(crate) fn birth_date(rng: &mut StdRng, on: Day, age: u32) -> Day {
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
pub(crate) fn stream_seed(seed: u64, stream: u64) -> u64 {
    seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6772_6964_7379_6e63
}
