-- symbolic-ai: time the selected MIDI item (the score) in the selected audio item (its recording): tempo
-- markers that follow the recording, and the score played on the recording's timeline on a new track.
-- Installed by `symbolic-ai hosts install reaper`; load it with Actions > New action > Load ReaScript.
local _, path = reaper.get_action_context()
local sai = dofile((path or ""):match("^(.*[/\\])") .. "symbolic-ai-common.lua")
sai.align({})
