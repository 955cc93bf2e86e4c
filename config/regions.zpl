#   The federation directory: every ZVH region, by id.
#
#   A region is federated only once BOTH its endpoint and its public_key are
#   filled in. While both are "" it is a placeholder: known by id, but never
#   connected to. Filling in just one of the two is an error (zvhd refuses to
#   start), and so is running a daemon whose own region is a placeholder.
#
#   endpoint    where that region's zvhd listens, tcp://host:port
#   public_key  its CURVE public key: the 40 Z85 characters printed by
#               "zvhctl keygen", always in double quotes (Z85 may contain
#               '#', which would otherwise start a comment)
#   sign_key    its Ed25519 key that verifies the events it signs: the 64
#               hex digits "zvhctl keygen" prints on the line after
#               public_key. Required once the region is federated: without
#               it every event the region sends would be refused, so zvhd
#               and --check-config report it as an error. Both keys come
#               from the region itself, over a channel that authenticates
#               them (docs/PROTOCOL.md 2.3, 2.6)
#
#   The regions live here and not in code, so that one is renamed, split or
#   merged by editing this file. Ids are 1 to 63 characters from a-z, 0-9
#   and '-'; zvhd accepts at most 64 regions. Indent with 4 spaces, no tabs.

directory
    groningen
        name = "Zorg- en Veiligheidshuis Groningen"
        endpoint = ""
        public_key = ""
        sign_key = ""
    fryslan
        name = "Zorg- en Veiligheidshuis Fryslân"
        endpoint = ""
        public_key = ""
        sign_key = ""
    drenthe
        name = "Zorg- en Veiligheidshuis Drenthe"
        endpoint = ""
        public_key = ""
        sign_key = ""
    ijsselland
        name = "Zorg- en Veiligheidshuis IJsselland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    twente
        name = "Zorg- en Veiligheidshuis Twente"
        endpoint = ""
        public_key = ""
        sign_key = ""
    noord-oost-gelderland
        name = "Zorg- en Veiligheidshuis Noord- en Oost-Gelderland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    gelderland-midden
        name = "Zorg- en Veiligheidshuis Gelderland-Midden"
        endpoint = ""
        public_key = ""
        sign_key = ""
    gelderland-zuid
        name = "Zorg- en Veiligheidshuis Gelderland-Zuid"
        endpoint = ""
        public_key = ""
        sign_key = ""
    utrecht
        name = "Zorg- en Veiligheidshuis Regio Utrecht"
        endpoint = ""
        public_key = ""
        sign_key = ""
    flevoland
        name = "Zorg- en Veiligheidshuis Flevoland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    gooi-vechtstreek
        name = "Zorg- en Veiligheidshuis Gooi en Vechtstreek"
        endpoint = ""
        public_key = ""
        sign_key = ""
    amsterdam-amstelland
        name = "Zorg- en Veiligheidshuis Amsterdam-Amstelland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    zaanstreek-waterland
        name = "Zorg- en Veiligheidshuis Zaanstreek-Waterland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    kennemerland
        name = "Zorg- en Veiligheidshuis Kennemerland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    noord-holland-noord
        name = "Zorg- en Veiligheidshuis Noord-Holland Noord"
        endpoint = ""
        public_key = ""
        sign_key = ""
    haaglanden
        name = "Zorg- en Veiligheidshuis Haaglanden"
        endpoint = ""
        public_key = ""
        sign_key = ""
    hollands-midden
        name = "Zorg- en Veiligheidshuis Hollands Midden"
        endpoint = ""
        public_key = ""
        sign_key = ""
    rotterdam-rijnmond
        name = "Zorg- en Veiligheidshuis Rotterdam-Rijnmond"
        endpoint = ""
        public_key = ""
        sign_key = ""
    zuid-holland-zuid
        name = "Zorg- en Veiligheidshuis Zuid-Holland-Zuid"
        endpoint = ""
        public_key = ""
        sign_key = ""
    zeeland
        name = "Zorg- en Veiligheidshuis Zeeland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    de-markiezaten
        name = "Zorg- en Veiligheidshuis De Markiezaten"
        endpoint = ""
        public_key = ""
        sign_key = ""
    breda-baronie
        name = "Zorg- en Veiligheidshuis Regio Breda (Baronie)"
        endpoint = ""
        public_key = ""
        sign_key = ""
    midden-brabant
        name = "Zorg- en Veiligheidshuis Midden-Brabant (Hart van Brabant)"
        endpoint = ""
        public_key = ""
        sign_key = ""
    #   's-Hertogenbosch area: the id and name are unconfirmed; check with the region.
    noordoost-brabant
        name = "Zorg- en Veiligheidshuis Noordoost-Brabant"
        endpoint = ""
        public_key = ""
        sign_key = ""
    #   Oss area: the id and name are unconfirmed; check with the region.
    maas-en-leijgraaf
        name = "Zorg- en Veiligheidshuis Maas en Leijgraaf"
        endpoint = ""
        public_key = ""
        sign_key = ""
    brabant-zuidoost
        name = "Zorg- en Veiligheidshuis Brabant Zuidoost"
        endpoint = ""
        public_key = ""
        sign_key = ""
    noord-limburg
        name = "Zorg- en Veiligheidshuis Noord-Limburg"
        endpoint = ""
        public_key = ""
        sign_key = ""
    midden-limburg
        name = "Zorg- en Veiligheidshuis Midden-Limburg"
        endpoint = ""
        public_key = ""
        sign_key = ""
    maastricht-heuvelland
        name = "Zorg- en Veiligheidshuis Maastricht-Heuvelland"
        endpoint = ""
        public_key = ""
        sign_key = ""
    westelijke-mijnstreek
        name = "Zorg- en Veiligheidshuis Westelijke Mijnstreek"
        endpoint = ""
        public_key = ""
        sign_key = ""
    parkstad
        name = "Zorg- en Veiligheidshuis Parkstad"
        endpoint = ""
        public_key = ""
        sign_key = ""
