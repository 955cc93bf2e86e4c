#   Partners of one region's zvhd: who may subscribe to its crisis signals,
#   and what each role gets to see of them.
#
#   zvhd reads this file when its zvhd section sets both
#       subscribe_bind = tcp://0.0.0.0:7201
#       partners = partners.zpl         (relative to the daemon file)
#   and refuses to start if anything here is wrong, listing every problem.
#
#   partners    one entry per partner system (one CURVE key each):
#       <id>            1 to 63 characters from a-z, 0-9 and '-'; unique
#       role            police, crisis_service, probation or operator
#                       (regions are not partners: they are in the directory)
#       public_key      the partner's CURVE public key: the 40 Z85 characters
#                       printed by "zvhctl keygen", always in double quotes
#                       (Z85 may contain '#', which would start a comment).
#                       Unique, and never the key of a region.
#       regions         the owner regions whose signals the partner gets,
#                       comma-separated ids from the directory, or "*" for all
#       cases           optional: case ids the partner gets wherever the case
#                       is held; regions may then be left out
#                       National signals reach every partner.
#
#   views       one line per role used above: the SignalView fields
#               (proto/zvh.proto) sent to that role; zvhd removes every other
#               field before a signal leaves the region. Every view must list
#               seq, type and event_id: a subscriber resumes after seq, tells
#               what it got by type and drops redeliveries by event_id.
#               Give each role the least it needs (data minimisation, AVG).
#
#   THE KEYS BELOW ARE EXAMPLES ONLY. They are real Z85 keys so that this
#   file loads as it is, but nobody holds their secret halves: replace each
#   with the public key of the partner's own "zvhctl keygen" output.
#
#   Indent with 4 spaces, no tabs. zvhd accepts at most 256 partners, 32
#   regions or cases per partner and 32 fields per view.

partners
    #   The police unit for the north: one key for its three ZVH regions.
    politie-noord
        role = police
        public_key = "3$T)z(@}4RlW:6QBN>*6X]E.ty8%ncgIks*P#t!w"
        regions = "groningen,drenthe,fryslan"

    #   The acute mental-health crisis service. Its area is not a ZVH region:
    #   it spans two of them, so it lists both.
    ggz-crisisdienst-noord
        role = crisis_service
        public_key = "dg%t{^^]521ugC#6Q1mZ^6{4h/f95Ui.&rsryQ)q"
        regions = "groningen,drenthe"

    #   Probation (Reclassering Nederland) works nationally: every region.
    reclassering
        role = probation
        public_key = "*yHgo{Mr<Dcil@Ae.p%rO{G}glO}s}R{a2lMAMcb"
        regions = "*"
        #   A partner can also follow single cases, wherever they are held:
        #   cases = "ZVH-2024-0117,ZVH-2024-0342"

    #   This region's own operators (the ZVH Groningen case team).
    operators-groningen
        role = operator
        public_key = "2M?Vj6L=Z[hFJl<BI7j&Bso$<s}JC05(3+/Z)d.)"
        regions = "groningen"

views
    #   Police act on the signal and know the person under their own
    #   reference (partner_ref) with their own actions. They get no case_id
    #   (a ZVH key), no free text (may hold health data) and not who raised
    #   it; coordinator_contact tells them whom to call for more.
    police = "seq,type,event_id,region,national,kind,urgency,severity,certainty,time_ms,partner_ref,actions,coordinator_contact,previous_region"

    #   The crisis service is a care provider assessing a person in acute
    #   crisis: as police, plus the signal's text, which describes the
    #   situation it has to assess.
    crisis_service = "seq,type,event_id,region,national,kind,urgency,severity,certainty,text,time_ms,partner_ref,actions,coordinator_contact,previous_region"

    #   Probation supervises conditions and needs to know that something
    #   happened and what it must do, not the details: as police.
    probation = "seq,type,event_id,region,national,kind,urgency,severity,certainty,time_ms,partner_ref,actions,coordinator_contact,previous_region"

    #   Operators are the ZVH's own case team: they hold the case file
    #   already, so they see everything, including who raised a signal and
    #   when the plan is due for review.
    operator = "seq,type,event_id,case_id,region,national,kind,urgency,severity,certainty,text,raised_by,raised_role,time_ms,partner_ref,actions,coordinator_contact,previous_region,review_date"
