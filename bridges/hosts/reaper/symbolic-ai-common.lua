-- symbolic-ai-common.lua: shared by the symbolic-ai ReaScripts (REAPER, Lua). Reads the selected MIDI
-- item's notes, sends them to the daemon's HTTP API with curl through reaper.ExecProcess (every call has
-- a timeout), starts `symbolic-ai serve` when nothing answers, and writes the answer back into the project.
-- symbolic-ai-local.lua (written by `symbolic-ai hosts install reaper`) says where the daemon is.
local M = {}

local function script_dir()
  local _, path = reaper.get_action_context()
  return (path or ""):match("^(.*[/\\])") or "./"
end

local ok_local, LOCAL = pcall(dofile, script_dir() .. "symbolic-ai-local.lua")
if not ok_local then LOCAL = {url = "http://127.0.0.1:9011", python = "python3", timeout_s = 120} end
M.url = os.getenv("SYMBOLIC_AI_URL") or LOCAL.url

-- JSON ---------------------------------------------------------------------------------------------
local function encode(v)
  local t = type(v)
  if t == "table" then
    if #v > 0 then  -- a list; an empty table is written as {} (params)
      local parts = {}
      for i = 1, #v do parts[i] = encode(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys, parts = {}, {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif t == "number" then
    return (math.type(v) == "integer" or v ~= math.floor(v)) and tostring(v) or string.format("%d", v)
  elseif t == "boolean" then
    return tostring(v)
  end
  return "null"
end
M.encode = encode

function M.decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = s:sub(i, i)
      if c == "" then error("unterminated string") end
      if c == '"' then pos = i + 1; return table.concat(out) end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(i + 2, i + 5), 16)); i = i + 6
        else
          out[#out + 1] = ({b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"})[e] or e; i = i + 2
        end
      else
        out[#out + 1] = c; i = i + 1
      end
    end
  end
  value = function()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local obj = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        ws(); local k = str(); ws(); pos = pos + 1  -- the colon
        obj[k] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "}" then return obj end
      end
    elseif c == "[" then
      local arr = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return arr end
      while true do
        arr[#arr + 1] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return arr end
      end
    elseif c == '"' then
      return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4; return nil
    end
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" then error("bad JSON at " .. pos) end
    pos = pos + #num
    return tonumber(num)
  end
  return value()
end

-- talking to the daemon ----------------------------------------------------------------------------
local function quote(s)
  if package.config:sub(1, 1) == "\\" then return '"' .. s .. '"' end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- curl METHOD PATH [body] -> status, document or nil, error
function M.http(method, path, body, timeout_s, extra)
  local cmd = "curl -sS --max-time " .. timeout_s .. " " .. (extra or "") .. " -w " .. quote("\n%{http_code}") .. " -X " .. method
  local tmp
  if body then
    tmp = os.tmpname()
    local f = assert(io.open(tmp, "w"))
    f:write(encode(body)); f:close()
    cmd = cmd .. " -H " .. quote("Content-Type: application/json") .. " --data-binary " .. quote("@" .. tmp)
  end
  local out = reaper.ExecProcess(cmd .. " " .. quote(M.url .. path), (timeout_s + 5) * 1000)
  if tmp then os.remove(tmp) end
  if not out then return 0, nil, "curl did not finish within " .. timeout_s .. " s" end
  local text = out:match("^%-?%d+\n(.*)$") or ""
  local doc, status = text:match("^(.*)\n(%d+)%s*$")
  status = tonumber(status) or 0
  if status == 0 then return 0, nil, "no answer from " .. M.url end
  local ok, parsed = pcall(M.decode, doc)
  if not ok then return status, nil, "the daemon's answer is not JSON (HTTP " .. status .. ")" end
  return status, parsed, nil
end

-- Ping; if nothing answers, start the daemon (allowing dir for the files it writes) and wait for it.
function M.ensure_daemon(dir)
  if M.http("GET", "/sai/ping", nil, 2) == 200 then return nil end
  local port = M.url:match(":(%d+)$") or "9011"
  reaper.ExecProcess(quote(LOCAL.python) .. " -m symbolic_ai.cli serve --http-port " .. port .. " --osc-port " ..
                     (tonumber(port) - 1) .. " --allow-dir " .. quote(dir), -1)
  reaper.ShowConsoleMsg("symbolic-ai: started the daemon, waiting for it\n")
  -- curl's own retries: the daemon needs a few seconds to load its models
  local wait = LOCAL.start_timeout_s or 60
  local status, _, err = M.http("GET", "/sai/ping", nil, wait, "--retry " .. wait .. " --retry-delay 1 --retry-connrefused")
  if status == 200 then return nil end
  return "the symbolic-ai daemon is not running at " .. M.url .. " (" .. (err or "HTTP " .. status) ..
         "); start it with `symbolic-ai serve`"
end

-- the selected MIDI item -------------------------------------------------------------------------
-- -> {item, take, start_qn, notes = {{pitch, velocity, start_beats, duration_beats, channel}, ...}} or nil, error
function M.selected_notes()
  local item = reaper.GetSelectedMediaItem(0, 0)
  if not item then return nil, "no item is selected; select a MIDI item" end
  local take = reaper.GetActiveTake(item)
  if not take or not reaper.TakeIsMIDI(take) then return nil, "the selected item is not MIDI; select a MIDI item" end
  local pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local start_qn = reaper.TimeMap2_timeToQN(0, pos)
  local _, count = reaper.MIDI_CountEvts(take)
  local notes = {}
  for i = 0, count - 1 do
    local _, _, muted, s, e, chan, pitch, vel = reaper.MIDI_GetNote(take, i)
    if not muted then
      local qs = reaper.MIDI_GetProjQNFromPPQPos(take, s) - start_qn
      local qe = reaper.MIDI_GetProjQNFromPPQPos(take, e) - start_qn
      notes[#notes + 1] = {pitch, vel, qs, qe - qs, chan + 1}
    end
  end
  if #notes == 0 then return nil, "the selected item has no notes" end
  local only_drums = true
  for _, n in ipairs(notes) do if n[5] ~= 10 then only_drums = false end end
  if only_drums then return nil, "the selected item has only drum notes (channel 10)" end
  return {item = item, take = take, start_qn = start_qn, notes = notes}
end

local function fail(msg)
  reaper.ShowConsoleMsg("symbolic-ai: error: " .. msg .. "\n")
  reaper.ShowMessageBox(msg, "symbolic-ai", 0)
end

local function project_dir()
  local d = reaper.GetProjectPath("")
  return (d and d ~= "") and d or (os.getenv("TMPDIR") or "/tmp")
end

-- writing the answers back ---------------------------------------------------------------------------
local function write_harmonize(sel, job)
  local index = reaper.CountTracks(0)
  reaper.InsertTrackAtIndex(index, true)
  local track = reaper.GetTrack(0, index)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "symbolic-ai harmonize", true)
  local item_start = reaper.GetMediaItemInfo_Value(sel.item, "D_POSITION")
  local item_end = item_start + reaper.GetMediaItemInfo_Value(sel.item, "D_LENGTH")
  local new = reaper.CreateNewMIDIItemInProj(track, item_start, item_end, false)
  local take = reaper.GetActiveTake(new)
  local n = 0
  for _, note in ipairs(job.piece and job.piece.notes or {}) do
    if note.track == 1 then  -- track 0 is the melody, track 1 the accompaniment
      local s = reaper.MIDI_GetPPQPosFromProjQN(take, sel.start_qn + note.onset_beat)
      local e = reaper.MIDI_GetPPQPosFromProjQN(take, sel.start_qn + note.onset_beat + note.duration_beat)
      reaper.MIDI_InsertNote(take, false, false, s, e, 0, note.pitch, note.velocity, true)
      n = n + 1
    end
  end
  local chords = 0
  for _, a in ipairs(job.annotations or {}) do
    if a.kind == "chord" and a.value ~= "N" then
      local ppq = reaper.MIDI_GetPPQPosFromProjQN(take, sel.start_qn + a.start_beat)
      reaper.MIDI_InsertTextSysexEvt(take, false, false, ppq, 6, a.value)  -- 6: marker text, shown in the MIDI editor
      chords = chords + 1
    end
  end
  reaper.MIDI_Sort(take)
  return "harmonize: " .. chords .. " chords, " .. n .. " accompaniment notes on a new track (key " .. job.result.key .. ")"
end

local function write_perform(_, job)
  reaper.InsertMedia(job.output, 3)  -- 3: as a new take of the selected item
  return "perform: " .. job.result.n_notes .. " notes performed into a new take (" .. job.output .. ")"
end

local function show_key(_, job)
  local lines = {"key: " .. job.result.key .. " (confidence " .. string.format("%.2f", job.result.confidence) .. ")"}
  for _, w in ipairs(job.result["local"] or {}) do
    lines[#lines + 1] = string.format("  beats %g-%g: %s", w.start_beat, w.end_beat, w.key)
  end
  return table.concat(lines, "\n")
end

local function show_emotion(_, job)
  local lines = {"emotion: " .. job.result.quadrant .. " " .. job.result.label ..
                 string.format(" (valence %.2f, arousal %.2f)", job.result.valence, job.result.arousal)}
  for _, w in ipairs(job.result.timeline or {}) do
    lines[#lines + 1] = string.format("  beats %g-%g: %s %s", w.start_beat, w.end_beat, w.quadrant, w.label)
  end
  return table.concat(lines, "\n")
end

local WRITERS = {harmonize = write_harmonize, perform = write_perform, key = show_key, emotion = show_emotion}

-- align: the selected MIDI item is the score, the selected audio item the recording. The daemon times
-- the score in the recording; the project gets a tempo marker at each score onset the recording
-- plays (so the grid follows the recording from the audio item's start) and the score played on
-- the recording's timeline as a new track (the time-mapped MIDI the daemon wrote).
local function selected_recording()
  for i = 0, reaper.CountSelectedMediaItems(0) - 1 do
    local it = reaper.GetSelectedMediaItem(0, i)
    local tk = it and reaper.GetActiveTake(it)
    if tk and not reaper.TakeIsMIDI(tk) then
      local file = reaper.GetMediaSourceFileName(reaper.GetMediaItemTake_Source(tk), "")
      if file and file ~= "" then return {item = it, file = file, pos = reaper.GetMediaItemInfo_Value(it, "D_POSITION")} end
    end
  end
  return nil, "select the recording's audio item too (the MIDI item is the score)"
end

local function write_align(rec, job)
  local rows, n = job.result.time_map or {}, 0
  for i = 1, #rows - 1 do
    local t0, b0, t1, b1 = rows[i][1], rows[i][2], rows[i + 1][1], rows[i + 1][2]
    if t1 > t0 and b1 > b0 then
      reaper.SetTempoTimeSigMarker(0, -1, rec.pos + t0, -1, -1, 60 * (b1 - b0) / (t1 - t0), 0, 0, false)
      n = n + 1
    end
  end
  reaper.SetEditCurPos(rec.pos, false, false)
  reaper.InsertMedia(job.output, 1)  -- 1: on a new track, at the edit cursor (the recording's start)
  return string.format("align: %d tempo markers following %s (confidence %.2f); the score on its timeline: %s",
                       n, rec.file, job.result.confidence, job.output) ..
         ((job.result.warnings and #job.result.warnings > 0) and ("\nwarning: " .. job.result.warnings[1]) or "")
end

-- Align the selected MIDI item (the score) to the selected audio item (its recording).
function M.align(params)
  local sel, err = M.selected_notes()
  if not sel then return fail(err) end
  local rec
  rec, err = selected_recording()
  if not rec then return fail(err) end
  local dir = project_dir()
  err = M.ensure_daemon(dir)
  if err then return fail(err) end
  local num, den, bpm = reaper.TimeMap_GetTimeSigAtTime(0, reaper.GetMediaItemInfo_Value(sel.item, "D_POSITION"))
  local body = {notes = sel.notes, params = params or {}, qpm = bpm, numerator = num, denominator = den,
                recording_path = rec.file, out_path = dir .. "/symbolic-ai-align-" .. os.time() .. ".mid"}
  local status, job, herr = M.http("POST", "/sai/align?wait=1", body, LOCAL.timeout_s or 120)
  if not job or status ~= 200 or job.state ~= "done" then
    local why = herr or (job and job.error and ((job.error.code or "") .. ": " .. (job.error.message or ""))) or
                ("HTTP " .. status)
    return fail("align failed: " .. why)
  end
  reaper.Undo_BeginBlock()
  local msg = write_align(rec, job)
  reaper.Undo_EndBlock("symbolic-ai align", -1)
  reaper.UpdateArrange()
  reaper.ShowConsoleMsg("symbolic-ai: " .. msg .. "\n")
  return msg
end

-- Run TASK on the selected MIDI item and write or show the answer; errors in one line, nothing changed.
function M.run(task, params)
  local sel, err = M.selected_notes()
  if not sel then return fail(err) end
  local dir = project_dir()
  err = M.ensure_daemon(dir)
  if err then return fail(err) end
  local num, den, bpm = reaper.TimeMap_GetTimeSigAtTime(0, reaper.GetMediaItemInfo_Value(sel.item, "D_POSITION"))
  local body = {notes = sel.notes, params = params or {}, qpm = bpm, numerator = num, denominator = den}
  if task == "perform" then
    body.out_path = dir .. "/" .. "symbolic-ai-perform-" .. os.time() .. ".mid"
  end
  local status, job, herr = M.http("POST", "/sai/" .. task .. "?wait=1", body, LOCAL.timeout_s or 120)
  if not job or status ~= 200 or job.state ~= "done" then
    local why = herr or (job and job.error and ((job.error.code or "") .. ": " .. (job.error.message or ""))) or
                ("HTTP " .. status)
    return fail(task .. " failed: " .. why)
  end
  reaper.Undo_BeginBlock()
  local msg = WRITERS[task](sel, job)
  reaper.Undo_EndBlock("symbolic-ai " .. task, -1)
  reaper.UpdateArrange()
  reaper.ShowConsoleMsg("symbolic-ai: " .. msg .. "\n")
  return msg
end

return M
