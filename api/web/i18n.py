"""The UI's strings in English and Chinese, and the language a request asks for."""

from __future__ import annotations

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
LANG_COOKIE = "custos_lang"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "app": "Custos",
        "login": "Log in",
        "logout": "Log out",
        "username": "User name",
        "password": "Password",
        "wrong_password": "Wrong user name or password.",
        "throttled": "Too many failed logins; try again later.",
        "expired": "Your session has ended; please log in again.",
        "csrf": "The form has expired; please try again.",
        "cases": "Cases",
        "case": "Case",
        "no_cases": "No cases you may see.",
        "steps": "Steps",
        "no_steps": "No steps recorded for this case.",
        "step": "Step",
        "kind": "Kind",
        "requirement": "Requirement",
        "window": "Time",
        "light": "Light",
        "reason": "Reason",
        "recordings": "Recordings",
        "no_recordings": "No recordings.",
        "file": "File",
        "captured": "Captured",
        "duration": "Duration",
        "status": "Status",
        "transcript": "Transcript",
        "no_transcript": "No transcript yet.",
        "search": "Search the transcript",
        "matches": "matches",
        "audio_stream": "Audio stream",
        "doubtful": "doubtful",
        "untranscribed": "untranscribed speech: listen",
        "shortcuts": "Keys: space play/pause · J/L back/forward 10 s · K pause · ←/→ 5 s",
        "not_found": "Not found",
        "not_found_text": "There is no such record, or it is not in your cases.",
        "green": "complete",
        "yellow": "needs attention",
        "red": "missing",
        "unlinked": "Recordings not linked to a step",
        "language": "Language",
        "signed_in_as": "Signed in as",
    },
    "zh": {
        "app": "Custos 执法音视频",
        "login": "登录",
        "logout": "退出登录",
        "username": "用户名",
        "password": "密码",
        "wrong_password": "用户名或密码错误。",
        "throttled": "登录失败次数过多，请稍后再试。",
        "expired": "会话已结束，请重新登录。",
        "csrf": "表单已过期，请重试。",
        "cases": "案件",
        "case": "案件",
        "no_cases": "没有您可查看的案件。",
        "steps": "执法环节",
        "no_steps": "该案件尚无执法环节记录。",
        "step": "环节",
        "kind": "类型",
        "requirement": "记录要求",
        "window": "时间",
        "light": "状态灯",
        "reason": "原因",
        "recordings": "音视频记录",
        "no_recordings": "没有音视频记录。",
        "file": "文件",
        "captured": "拍摄时间",
        "duration": "时长",
        "status": "状态",
        "transcript": "转写文本",
        "no_transcript": "尚无转写文本。",
        "search": "在转写文本中搜索",
        "matches": "处匹配",
        "audio_stream": "音轨",
        "doubtful": "存疑",
        "untranscribed": "未转写的语音：请收听",
        "shortcuts": "快捷键：空格 播放/暂停 · J/L 后退/前进 10 秒 · K 暂停 · ←/→ 5 秒",
        "not_found": "未找到",
        "not_found_text": "该记录不存在，或不属于您的案件。",
        "green": "完整",
        "yellow": "需关注",
        "red": "缺失",
        "unlinked": "未关联环节的音视频",
        "language": "语言",
        "signed_in_as": "当前用户",
    },
}


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The switch's choice (cookie), else the best of Accept-Language, else English."""
    if cookie in LANGS:
        return cookie
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGS and q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, base)
    return best[2] if best else DEFAULT_LANG
