"""People's names as a phone agent hears them: spelled names, and names worth spelling.

Speech-to-text turns unusual surnames into other words ("Okafor" becomes "ocifer", "Nguyen"
"an iron"), so a good phone agent reads the name back and asks the caller to spell it when it is
unusual or looks misheard. :func:`is_unusual` decides that from a list of common first names
and surnames (English-speaking countries, Europe, Latin America, South and East Asia, West
Africa), and :func:`spelled_name` assembles a spelled name as Whisper writes it down
("P-A-T-E-L", "P, A, T, E, L", "KOWALSKI", "okay AFOR" for "O, K, A, F, O, R").

Nothing here names a business; any profile's offline brains can use it.
"""

from __future__ import annotations

import re

import jellyfish

__all__ = ["COMMON_NAMES", "is_unusual", "letters", "likely_spelling", "spelled_name", "tidy_name"]

_SURNAMES = """
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez
wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark
ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams
nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker
cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper
peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood james
bennett gray grey mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster
jimenez powell jenkins perry russell sullivan bell coleman butler henderson barnes gonzales fisher
vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin wallace west
cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford castro marshall
owens harrison fernandez mcdonald woods washington kennedy wells vargas henry chen freeman webb
tucker guzman burns crawford olson simpson porter hunter gordon mendez silva shaw snyder mason
dixon munoz hunt hicks holmes palmer wagner black robertson boyd rose stone salazar fox warren
mills meyer rice schmidt garza daniels ferguson nichols stephens soto weaver ryan gardner payne
grant dunn kelley spencer hawkins arnold pierce vazquez hansen peters santos hart bradley knight
elliott cunningham duncan armstrong hudson carroll lane riley andrews ray berry perkins hoffman
johnston matthews pena richards willis carpenter lawrence sandoval guerrero george chapman rios
estrada ortega watkins greene nunez wheeler valdez harper burke larson santiago maldonado morrison
franklin carlson austin dominguez carr lawson jacobs obrien o'brien lynch singh vega bishop
montgomery oliver jensen harvey williamson gilbert dean sims espinoza howell li wong reid hanson
le mccoy garrett burton fuller wang weber welch rojas lucas marquez fields park yang little banks
padilla day walsh bowman schultz luna fowler mejia davidson acosta brewer may holland juarez
newman pearson curtis cortez douglas schneider joseph barrett navarro figueroa keller avila wade
molina stanley hopkins campos barnett bates chambers caldwell beck lambert miranda byrd craig
ayala lowe frazier powers neal leonard gregory carrillo sutton fleming rhodes shelton schwartz
norris jennings watts duran walters cohen mcdaniel moran parks steele vaughn becker holt deleon
barker terry hale leon hail benson haynes horton miles lyons pham graves bush thornton wolfe
warner cabrera mckinney mann zimmerman dawson lara fletcher page mccarthy love robles cervantes
solis erickson reeves chang klein salinas fuentes baldwin daniel simon velasquez hardy higgins
aguirre lin cummings chandler sharp barber bowen ochoa dennis robbins liu ramsey francis griffith
paul blair o'connor oconnor cardenas pacheco cross calderon quinn moss swanson chan rivas khan
rodgers serrano fitzgerald rosales stevenson christensen manning gill curry mclaughlin harmon
mcgee gross doyle garner newton burgess reese walton blake trujillo adkins brady goodman roman
webster goodwin fischer huang potter delacruz montoya todd wu hines mullins castaneda malone
cannon tate mack sherman hubbard hodges zhang guerra wolf valencia saunders franco rowe gallagher
farmer hammond hampton townsend ingram wise gallegos clarke barton schroeder maxwell waters
logan camacho strickland norman person colon parsons frank harrington glover osborne buchanan
casey floyd patton ibarra ball tyler suarez bowers orozco salas cobb gibbs andrade bauer conner
moody escobar mcguire lloyd mueller hartman french kramer mcbride pope lindsey velazquez norton
mccormick sparks flynn yates hogan marsh macias villanueva zamora pratt stokes owen ballard lang
brock villarreal charles drake barrera cain patrick pineda burnett mercado santana shepherd
bautista ali shaffer lamb trevino mckenzie hess beil olsen cochran morton nash wilkins petersen
briggs shah roth nicholson holloway lozano rangel flowers hoover short arias mora valenzuela bryan
meyers weiss underwood bass greer summers houston carson morrow clayton whitaker decker yoder
collier zuniga carey wilcox melendez poole roberson larsen conley davenport copeland massey lam
huff rocha cameron jefferson hood monroe anthony pittman huynh randall singleton kirk combs mathis
christian skinner bradford richard galvan wall boone kirby wilkinson bridges bruce atkinson
velez meza roy vincent york hodge villa abbott allison tapia gates chase sosa sweeney farrell
wyatt dalton horn barron phelps yu dickerson heath foley atkins mathews bonilla acevedo benitez
zavala hensley glenn cisneros harrell shields rubio huffman choi boyer garrison arroyo bond kane
hancock callahan dillon cline wiggins grimes arellano melton oneill o'neill savage ho beltran
pitts parrish ponce rich booth koch golden ware brennan mcdowell marks cantu humphrey baxter
sawyer clay tanner hutchinson kaur berg wiley gilmore russo villegas hobbs keith wilkerson ahmed
beard mcclain montes mata rosario vang walter henson oneal mosley mcclure beasley stephenson
snow huerta preston vance barry johns eaton blackwell dyer prince macdonald solomon guevara
stafford english hurst woodard cortes shannon kemp nolan mccullough merritt murillo moon salgado
strong kline cordova barajas roach rosas winters jacobson lester knox bullock kerr leach meadows
davila orr whitehead pruitt kent conway mckee barr david dejesus marin berger mcintyre blankenship
gaines palacios cuevas bartlett durham dorsey mccall odonnell o'donnell stein browning stout
lowery sloan mclean hendricks calhoun sexton chung gentry hull duarte ellison nielsen gillespie
buck middleton sellers leblanc esparza hardin bradshaw mcintosh howe livingston frost glass
morse knapp herman stark bravo noble spears weeks corona frederick buckley mcfarland hebert
enriquez hickman quintero randolph schaefer walls trejo house reilly pennington michael conrad
giles benjamin crosby fitzpatrick donovan mays mahoney valentine raymond medrano hahn mcmillan
small bentley felix peck lucero boyle hanna pace rush hurley harding mcconnell bernal nava ayers
everett ventura avery pugh mayer bender shepard mcmahon landry case sampson moses magana
blackburn dunlap gould duffy vaughan herring mckay espinosa rivers farley bernard ashley friedman
potts truong costa correa blevins nixon clements fry delarosa best benton lugo portillo dougherty
crane haley phan villalobos blanchard horne finley quintana lynn esquivel bean dodson mullen
xiong hayden cano levy huber richmond moyer lim frye sheppard mccarty avalos booker waller
parra woodward jaramillo krueger rasmussen brandt peralta donaldson stuart faulkner maynard
galindo coffey estes sanford burch maddox vo oconnell o'connell vu andersen spence mcpherson
church schmitt stanton leal cherry compton dudley sierra pollard alfaro hester proctor lu hinton
novak good madden mccann terrell jarvis dickson reyna cantrell mayo branch hendrix rollins rowland
whitney duke odom daugherty travis tang archer rossi russo ferrari esposito bianchi romano colombo
ricci marino greco bruno gallo conti deluca costa giordano mancini rizzo lombardi moretti
barbieri fontana santoro mariani rinaldi caruso ferrara gatti pellegrini palumbo sanna fabbri
muller mueller schmid schneider fischer meier meyer weber wagner becker schulz hoffmann koch
richter bauer klein wolf schroder neumann schwarz zimmermann braun kruger hofmann hartmann lange
werner krause lehmann kohler maier herrmann konig walter dubois durand leroy moreau simon laurent
lefebvre michel david bertrand roux vincent fournier morel girard andre mercier dupont lambert
bonnet francois martinez oliveira pereira ferreira alves rodrigues souza sousa lima gomes ribeiro
carvalho almeida martins rocha soares dias barbosa moreira cardoso teixeira nunes mendes vieira
pinto cunha monteiro fonseca machado marques lopes coelho reis azevedo castro moura tavares
nowak kowalski wisniewski wojcik kowalczyk kaminski lewandowski zielinski szymanski wozniak
jansen janssen devries de vries bakker visser smit meijer mulder bos vos peters hendriks dekker
murray byrne ryan oconnor doherty kennedy lynch fitzgerald mccarthy walsh obrien sullivan gallagher
johansson karlsson nilsson eriksson larsson olsson persson svensson gustafsson pettersson hansen
nielsen jensen pedersen andersen christensen larsen sorensen rasmussen haddad khoury said hassan
hussein ibrahim mohamed mohammed ahmed ali khan hussain rahman iqbal malik qureshi chaudhry
sharma gupta kumar shah mehta joshi desai reddy rao nair iyer menon das bose chatterjee banerjee
mukherjee ghosh sen verma agarwal jain kapoor chopra malhotra bhatt pandey mishra tiwari yadav
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo zheng liang song
tanaka suzuki takahashi watanabe ito yamamoto nakamura kobayashi kato sato yoshida yamada sasaki
park choi jung kang cho yoon jang lim han shin seo kwon hwang ahn song hong jeon nguyen tran le
pham hoang phan vu vo dang bui do ho ngo duong ly okafor okeke adeyemi adebayo okonkwo mensah
owusu boateng asante diallo traore kone toure ndiaye sow mbeki dlamini nkosi davies griffiths
pearce parry rees bevan howells llewellyn mackenzie macleod fraser paterson mcgregor sinclair
kavanagh connolly power daly dunne whelan donnelly dolan mcgrath hennessy cullen keane kearney
"""
_FIRST_NAMES = """
james mary robert patricia john jennifer michael linda david elizabeth william barbara richard
susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy matthew betty
anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna joshua michelle
kenneth carol kevin amanda brian dorothy george melissa timothy deborah ronald stephanie edward
rebecca jason sharon jeffrey laura ryan cynthia jacob kathleen gary amy nicholas angela eric
shirley jonathan anna stephen brenda larry pamela justin emma scott nicole brandon helen benjamin
samantha samuel katherine gregory christine alexander debra frank rachel patrick carolyn raymond
janet jack catherine dennis maria jerry heather tyler diane aaron ruth jose julie adam olivia
nathan joyce henry virginia douglas victoria zachary kelly peter lauren kyle christina ethan
joan walter evelyn noah judith jeremy megan christian andrea keith cheryl roger hannah terry
jacqueline gerald martha harold gloria sean teresa austin ann carl sara arthur madison lawrence
frances dylan kathryn jesse janice jordan jean bryan abigail billy alice joe julia bruce judy
gabriel sophia logan grace albert denise willie amber alan doris juan marilyn wayne danielle elijah
beverly randy isabella roy theresa vincent diana ralph natalie eugene brittany russell charlotte
bobby marie mason kayla philip alexis louis lori ana ane anne annie rui joao pedro miguel sofia
lucia carmen pablo javier luis carlos antonio manuel francisco diego sergio jorge alejandro
fernando marta laura elena paula raquel beatriz ines joana mariana catarina tiago goncalo duarte
giulia francesca chiara giorgia alessandro lorenzo matteo marco luca giovanni giuseppe paolo
pierre jean luc marc sophie camille chloe lea manon hans klaus jurgen stefan lukas leon felix
anna lena hannah ingrid lars erik sven nils olaf astrid freya ali omar ahmed fatima aisha leila
yusuf hamza priya raj arjun rahul anil sunita deepa ravi vijay amit neha pooja wei li ming hui
jun yan mei hiroshi yuki kenji akira min ji seo hyun jin chidi ngozi emeka amaka kwame kofi ama
ade tunde bola sade liam aiden oliver ella mia ava harry jake charlie oscar alfie archie freddie
isla poppy ruby amelia jessica lily millie rosie ellie evie daisy phoebe molly maya zoe nina eva
max ben sam tom tim dan dave mike steve rob bob bill will jim jon nick chris matt pat kate katie
jenny jen liz beth meg sue sam alex jo
"""
COMMON_NAMES: frozenset[str] = frozenset((_SURNAMES + _FIRST_NAMES).split())
"""Common first names and surnames, lower case: a name made of these needs no spelling."""

_PLAIN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_LETTER_WORDS = {  # how Whisper writes a letter said on its own, inside a spelling
    "okay": "OK", "ok": "OK", "and": "N", "an": "N", "en": "N", "bee": "B", "be": "B",
    "see": "C", "sea": "C", "dee": "D", "eff": "F", "ef": "F", "gee": "G", "aitch": "H",
    "jay": "J", "kay": "K", "el": "L", "ell": "L", "em": "M", "oh": "O", "pee": "P", "pea": "P",
    "cue": "Q", "queue": "Q", "are": "R", "ar": "R", "ess": "S", "tee": "T", "tea": "T",
    "you": "U", "vee": "V", "ex": "X", "why": "Y", "wye": "Y", "zed": "Z", "zee": "Z",
}  # fmt: skip
_SINGLE = re.compile(r"[A-Za-z]")
_GROUP = re.compile(
    r"[A-Za-z](?:[-.][A-Za-z])+|[A-Z]{3,}|(?=(?:[A-Z]-?){4,}$)[A-Z]{1,3}(?:-[A-Z]{1,3})+"
)
"""Letters for sure: hyphenated or dotted letters ("P-A-T-E-L", "P.A.T."), a word in capitals
(Whisper writes "K, O, W, A, L, S, K, I" as "KOWALSKI"), or four letters or more in short
capital chunks joined by hyphens ("AF-OR", "AKA-M-U-R-A": Whisper primed for a spelling groups
letters so; "A-OK" is no spelling)."""
_HYPHENATED = re.compile(r"[A-Za-z](?:[-.][A-Za-z])+")
_AS_IN = re.compile(r"\b([A-Za-z])\s+(?:as in|is in|for)\s+[A-Za-z]+\b", re.IGNORECASE)
_DOUBLE = re.compile(r"\bdouble[\s-]+([A-Za-z])\b", re.IGNORECASE)
_APOSTROPHE = re.compile(r"\bapostrophe\b", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9'.-]+|'")
_SURE, _SOFT = "sure", "soft"
_WORDS_AROUND_CAPITALS = 4
"""A word in capitals is a spelling only in a short turn ("It's okay AFOR."); in a sentence
("a table for five under PETA") it is a name Whisper wrote in capitals."""
_MARK = "'"
"""An apostrophe said as a word ("O apostrophe B R I E N")."""


def tidy_name(name: str) -> str:
    """A name as a booking stores it: each word capitalized ("o'brien" -> "O'Brien", "ocifer" ->
    "Ocifer"), spaces collapsed."""
    return " ".join(_capitalize(word) for word in name.split())


def _capitalize(word: str) -> str:
    parts = re.split(r"(['-])", word)
    return "".join(p[:1].upper() + p[1:].lower() for p in parts)


def is_unusual(name: str) -> bool:
    """Whether ``name`` is worth spelling: a word not in :data:`COMMON_NAMES`, a digit, a single
    letter or a stray symbol in it (what speech-to-text makes of a name it did not know)."""
    words = [w for w in re.split(r"[\s-]+", name.strip()) if w]
    if not words:
        return True
    for word in words:
        if not _PLAIN.fullmatch(word) or len(word) < 2:
            return True
        lowered = word.lower()
        if lowered not in COMMON_NAMES and lowered.replace("'", "") not in COMMON_NAMES:
            return True
    return False


def likely_spelling(spelled: str, heard: str | None) -> str:
    """The name the caller most likely spelled, given the letters heard (``spelled``) and the
    name as heard when they said it (``heard``, or None).

    Single letters are the hardest speech there is ("T-A-Y-L-O-R" comes back "T-O-Y-O-R"), but
    the name said as a word carries its sound ("tailor"). A spelled word that is no common name
    becomes the common name that sounds like a heard word (the same Metaphone key) and is at most
    :func:`_letters_off` letters from the spelling; when no name or more than one fits, the
    letters stand as heard. The agent reads the result back letter by letter, so a caller whose
    name really is "Tayler" hears "T-A-Y-L-O-R" and spells it again: a spelling given after such
    a read-back is taken as it is (the caller does not call this then).
    """
    sounds = {jellyfish.metaphone(word) for word in (heard or "").lower().split()}
    return tidy_name(" ".join(_likely_word(word, sounds) for word in spelled.split()))


def _likely_word(word: str, sounds: set[str]) -> str:
    lowered = word.lower()
    if not sounds or not is_unusual(word):
        return word
    fits = [
        (jellyfish.levenshtein_distance(lowered, name), name)
        for sound in sounds
        for name in _NAMES_BY_SOUND.get(sound, ())
    ]
    fits = [(off, name) for off, name in fits if off <= _letters_off(lowered)]
    best = min((off for off, _ in fits), default=None)
    closest = {name for off, name in fits if off == best}
    return closest.pop() if len(closest) == 1 else word


def _letters_off(word: str) -> int:
    """How many letters of a spelling may be misheard: one in a short name, two from five
    letters on."""
    return 1 if len(word) < 5 else 2


def letters(name: str) -> str:
    """``name`` as the agent spells it back: "Taylor" -> "T-A-Y-L-O-R", "O'Brien" ->
    "O apostrophe B-R-I-E-N", words apart ("Maria Lopez" -> "M-A-R-I-A, L-O-P-E-Z"); what
    :func:`spelled_name` reads back as the same name."""
    return ", ".join(_letters_of(word) for word in name.split())


def _letters_of(word: str) -> str:
    around_apostrophes = re.findall(r"[A-Za-z]+", word.replace("-", ""))
    return " apostrophe ".join("-".join(part.upper()) for part in around_apostrophes)


def spelled_name(text: str) -> str | None:
    """The name spelled out in ``text``, or None: "P-A-T-E-L", "P, A, T, E, L", "p a t e l",
    "It's M-I-L-L-E-R", "P as in Peter", "double L", "O apostrophe B R I E N", and what Whisper
    makes of spoken letters ("KOWALSKI"; "okay AFOR" or "okay AF-OR" for O, K, A, F, O, R;
    "and G-U-Y-E-N" for N, G, U, Y, E, N).

    A spelling is a run of letters: single letters, hyphenated groups, words in capitals (in a
    short turn only), and words that sound like a letter ("okay", "and", "you") before or
    between those, never after. It counts when it has a group, or at least three single letters
    ("OK, I" is no spelling). Two spelled runs ("M-A-R-I-A, L-O-P-E-Z") are two words of one
    name.
    """
    text = _AS_IN.sub(r"\1", text)
    text = _DOUBLE.sub(lambda m: f"{m.group(1)} {m.group(1)}", text)
    text = _APOSTROPHE.sub(f" {_MARK} ", text)
    tokens = [found if found == _MARK else found.strip(".") for found in _TOKEN.findall(text)]
    capitals = sum(_kind(token) is None for token in tokens) <= _WORDS_AROUND_CAPITALS
    words: list[str] = []
    run: list[tuple[str, str]] = []
    for token in [*tokens, ""]:
        kind = _kind(token, capitals=capitals)
        if kind is not None and not (
            run and _HYPHENATED.fullmatch(run[-1][0]) and _HYPHENATED.fullmatch(token)
        ):
            run.append((token, kind))
            continue
        word = _assemble(run)
        if word:
            words.append(word)
        run = [(token, kind)] if kind is not None else []
    return tidy_name(" ".join(words)) if words else None


def _kind(token: str, *, capitals: bool = True) -> str | None:
    if token == _MARK or _SINGLE.fullmatch(token) or _HYPHENATED.fullmatch(token):
        return _SURE
    if capitals and _GROUP.fullmatch(token):
        return _SURE
    return _SOFT if token.lower() in _LETTER_WORDS else None


def _assemble(run: list[tuple[str, str]]) -> str:
    """The word a run spells, or "" when it is no spelling."""
    while run and run[-1][1] == _SOFT:  # "P-A-T-E-L and ...": the "and" is a word
        run = run[:-1]
    while run and run[0][0] == _MARK:
        run = run[1:]
    groups = sum(1 for token, _ in run if _GROUP.fullmatch(token))
    singles = sum(1 for token, kind in run if kind == _SURE and _SINGLE.fullmatch(token))
    letters = "".join(
        _LETTER_WORDS[token.lower()] if kind == _SOFT else re.sub(r"[-.]", "", token)
        for token, kind in run
    )
    if (not groups and singles < 3) or len(letters.replace("'", "")) < 3:
        return ""
    return letters.upper()


def _by_sound(names: frozenset[str]) -> dict[str, list[str]]:
    by_sound: dict[str, list[str]] = {}
    for name in sorted(names):
        if _PLAIN.fullmatch(name):
            by_sound.setdefault(jellyfish.metaphone(name), []).append(name)
    return by_sound


_NAMES_BY_SOUND = _by_sound(COMMON_NAMES)
""":data:`COMMON_NAMES` by Metaphone key."""
