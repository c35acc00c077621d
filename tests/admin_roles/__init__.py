"""The admin goes through the rules, like every other door.

Staff accounts here hold every Django model permission; what they may do comes from their team role alone. Two teams
carry a marker in every name they own ("Alfamark", "Zetamark"), so any page that shows another team's object or
member gives itself away. The walk covers every URL of every ModelAdmin in `admin.site._registry`, so an admin
added later is walked too.
"""
