package benchdata

import "strings"

// nation is where a generated person lives: how their name is written and
// transliterated for the e-mail address, their mail domain, and the shape
// of their mobile number.
type nation struct {
	country string // ISO 3166-1 alpha-2, as the country column holds it
	locale  string // the language column
	domain  string
	weight  int // share of the list, in percent
	// cc is the country calling code and mobile the national prefixes of
	// mobile numbers; digits random digits follow the prefix.
	cc     string
	mobile []string
	digits int
	// first and last are {as written, as in an e-mail address}.
	first, last [][2]string
	familyFirst bool // the family name is written first (Chinese, Vietnamese)
}

// phone returns a valid mobile number of n, in E.164 for most rows and
// written with spaces for one in five, as spreadsheets hold them.
func (n *nation) phone(h uint64) string {
	g := mix(h)
	prefix := n.mobile[int(g%uint64(len(n.mobile)))]
	g >>= 8
	var b strings.Builder
	b.Grow(20)
	b.WriteString("+")
	b.WriteString(n.cc)
	spaced := g%5 == 0
	g >>= 3
	national := make([]byte, 0, 16)
	national = append(national, prefix...)
	for range n.digits {
		national = append(national, byte('0'+g%10))
		g /= 10
	}
	if !spaced {
		b.Write(national)
		return b.String()
	}
	for i, c := range national {
		if i%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// pickNation chooses row h's nation by weight.
func pickNation(h uint64) *nation {
	w := int(h % 100)
	for i := range nations {
		if w < nations[i].weight {
			return &nations[i]
		}
		w -= nations[i].weight
	}
	return &nations[0]
}

// nations lists the people of the list; the weights add up to 100. The
// mobile prefixes are ranges each country's numbering plan assigns to
// mobile networks, so that every generated number passes validation.
var nations = []nation{
	{country: "US", locale: "en-US", domain: "example.com", weight: 34, cc: "1",
		mobile: []string{"2125", "3127", "4156", "6178", "7134", "2063"}, digits: 6,
		first: [][2]string{{"James", "james"}, {"Mary", "mary"}, {"Aaliyah", "aaliyah"}, {"José", "jose"}, {"Chloé", "chloe"},
			{"DeShawn", "deshawn"}, {"Mei", "mei"}, {"Robert", "robert"}, {"Linda", "linda"}, {"Nguyen", "nguyen"}},
		last: [][2]string{{"Smith", "smith"}, {"Johnson", "johnson"}, {"García", "garcia"}, {"O'Connor", "oconnor"},
			{"Williams", "williams"}, {"Nakamura", "nakamura"}, {"Rodríguez", "rodriguez"}, {"Brown", "brown"}}},
	{country: "NO", locale: "nb", domain: "example.no", weight: 14, cc: "47",
		mobile: []string{"40", "41", "45", "46", "47", "48", "90", "92", "93", "95", "97", "98"}, digits: 6,
		first: [][2]string{{"Ågot", "agot"}, {"Bjørn", "bjorn"}, {"Åse", "aase"}, {"Øystein", "oystein"}, {"Kari", "kari"},
			{"Håkon", "haakon"}, {"Ingrid", "ingrid"}, {"Sigrún", "sigrun"}},
		last: [][2]string{{"Ødegård", "odegaard"}, {"Kværnø", "kvaerno"}, {"Hansen", "hansen"}, {"Bråthen", "braathen"},
			{"Løvås", "lovaas"}, {"Johansen", "johansen"}, {"Sæther", "saether"}}},
	{country: "NL", locale: "nl", domain: "example.nl", weight: 8, cc: "31",
		mobile: []string{"61", "62", "63", "64", "65"}, digits: 7,
		first: [][2]string{{"Marijke", "marijke"}, {"IJsbrand", "ijsbrand"}, {"Sanne", "sanne"}, {"Daan", "daan"}, {"Anouk", "anouk"}},
		last: [][2]string{{"van der Bijl", "vanderbijl"}, {"de Vries", "devries"}, {"Dijkstra", "dijkstra"}, {"Bakker", "bakker"},
			{"van 't Hof", "vanthof"}}},
	{country: "DE", locale: "de", domain: "example.de", weight: 8, cc: "49",
		mobile: []string{"1511", "1512", "1516", "160", "170", "176"}, digits: 7,
		first: [][2]string{{"Jürgen", "juergen"}, {"Lena", "lena"}, {"Jörg", "joerg"}, {"Sophie", "sophie"}, {"Günther", "guenther"}},
		last:  [][2]string{{"Müller", "mueller"}, {"Schröder", "schroeder"}, {"Weiß", "weiss"}, {"Groß", "gross"}, {"Becker", "becker"}}},
	{country: "GB", locale: "en-GB", domain: "example.co.uk", weight: 7, cc: "44",
		mobile: []string{"74", "75", "78"}, digits: 8,
		first: [][2]string{{"Siobhan", "siobhan"}, {"Oliver", "oliver"}, {"Aoife", "aoife"}, {"Rhys", "rhys"}},
		last:  [][2]string{{"O'Brien", "obrien"}, {"Smith", "smith"}, {"Llewellyn", "llewellyn"}, {"Patel", "patel"}}},
	{country: "SE", locale: "sv", domain: "example.se", weight: 5, cc: "46",
		mobile: []string{"70", "72", "73"}, digits: 7,
		first: [][2]string{{"Åsa", "asa"}, {"Björn", "bjorn"}, {"Märta", "marta"}, {"Linnéa", "linnea"}},
		last:  [][2]string{{"Lindqvist", "lindqvist"}, {"Sjöberg", "sjoberg"}, {"Åkesson", "akesson"}, {"Öberg", "oberg"}}},
	{country: "PL", locale: "pl", domain: "example.pl", weight: 4, cc: "48",
		mobile: []string{"50", "60", "69", "79"}, digits: 7,
		first: [][2]string{{"Łukasz", "lukasz"}, {"Małgorzata", "malgorzata"}, {"Wojciech", "wojciech"}, {"Zofia", "zofia"}},
		last:  [][2]string{{"Wiśniewski", "wisniewski"}, {"Wójcik", "wojcik"}, {"Kowalczyk", "kowalczyk"}, {"Żak", "zak"}}},
	{country: "TR", locale: "tr", domain: "example.com.tr", weight: 3, cc: "90",
		mobile: []string{"53", "54"}, digits: 8,
		first: [][2]string{{"Çağla", "cagla"}, {"Şükrü", "sukru"}, {"Gökhan", "gokhan"}, {"İrem", "irem"}},
		last:  [][2]string{{"Yılmaz", "yilmaz"}, {"Öztürk", "ozturk"}, {"Çelik", "celik"}, {"Şahin", "sahin"}}},
	{country: "VN", locale: "vi", domain: "example.vn", weight: 3, cc: "84", familyFirst: true,
		mobile: []string{"90", "91", "98"}, digits: 7,
		first: [][2]string{{"Thị Hương", "huong"}, {"Văn Đức", "duc"}, {"Minh Châu", "chau"}, {"Quốc Bảo", "bao"}},
		last:  [][2]string{{"Nguyễn", "nguyen"}, {"Trần", "tran"}, {"Lê", "le"}, {"Phạm", "pham"}}},
	{country: "ES", locale: "es", domain: "example.es", weight: 3, cc: "34",
		mobile: []string{"6"}, digits: 8,
		first: [][2]string{{"Íñigo", "inigo"}, {"María José", "mariajose"}, {"Begoña", "begona"}, {"Ramón", "ramon"}},
		last:  [][2]string{{"Núñez", "nunez"}, {"Peña", "pena"}, {"García Márquez", "garciamarquez"}, {"Ibáñez", "ibanez"}}},
	{country: "FR", locale: "fr", domain: "example.fr", weight: 3, cc: "33",
		mobile: []string{"61", "62", "64", "66", "68", "75", "76", "77", "78"}, digits: 7,
		first: [][2]string{{"Anaïs", "anais"}, {"Hélène", "helene"}, {"François", "francois"}, {"Zoë", "zoe"}},
		last:  [][2]string{{"Lefèvre", "lefevre"}, {"Besançon", "besancon"}, {"Dupré", "dupre"}, {"Nöel", "noel"}}},
	{country: "CN", locale: "zh", domain: "example.cn", weight: 3, cc: "86", familyFirst: true,
		mobile: []string{"138", "139", "186"}, digits: 8,
		first: [][2]string{{"伟", "wei"}, {"芳", "fang"}, {"秀英", "xiuying"}, {"建国", "jianguo"}},
		last:  [][2]string{{"王", "wang"}, {"李", "li"}, {"张", "zhang"}, {"刘", "liu"}}},
	{country: "AE", locale: "ar", domain: "example.ae", weight: 2, cc: "971",
		mobile: []string{"50", "55"}, digits: 7,
		first: [][2]string{{"محمد", "mohammed"}, {"فاطمة", "fatima"}, {"أحمد", "ahmed"}},
		last:  [][2]string{{"العلي", "alali"}, {"الهاشمي", "alhashimi"}, {"منصور", "mansour"}}},
	{country: "BR", locale: "pt-BR", domain: "example.com.br", weight: 3, cc: "55",
		mobile: []string{"119", "219"}, digits: 8,
		first: [][2]string{{"João", "joao"}, {"Conceição", "conceicao"}, {"Antônio", "antonio"}},
		last:  [][2]string{{"Gonçalves", "goncalves"}, {"Araújo", "araujo"}, {"Simões", "simoes"}}},
}
