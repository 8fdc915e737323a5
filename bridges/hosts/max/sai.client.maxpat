{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100,
   100,
   800,
   600
  ],
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      10,
      600,
      22
     ],
     "text": "sai.client: the symbolic-ai daemon over OSC (udpsend/udpreceive). Args: daemon port (9010), reply port (9101). See the help patch."
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "inlet",
     "numinlets": 0,
     "numoutlets": 1,
     "patching_rect": [
      20,
      50,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "comment": "note P V START DUR CHAN | clear | run TASK [PARAM VALUE ...] | ping | cancel | connect DAEMON_PORT REPLY_PORT"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 5,
     "patching_rect": [
      20,
      120,
      200,
      22
     ],
     "outlettype": [
      "",
      "",
      "",
      "",
      ""
     ],
     "text": "js sai.client.js #1 #2"
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      200,
      150,
      22
     ],
     "text": "udpsend 127.0.0.1 9010"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      300,
      50,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "udpreceive 9101"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "outlet",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      120,
      260,
      150,
      22
     ],
     "comment": "results as lists: TASK done ID key value ..., TASK annotation ..., note ID I PITCH VELOCITY START DUR CHAN"
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "outlet",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      200,
      260,
      150,
      22
     ],
     "comment": "dictionary NAME when a job is done"
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "outlet",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      280,
      260,
      150,
      22
     ],
     "comment": "errors and status: error ID CODE MESSAGE, pong VERSION, welcome VERSION NAME"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-2",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      0
     ],
     "destination": [
      "obj-3",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-4",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      1
     ],
     "destination": [
      "obj-6",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      2
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      3
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      4
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   }
  ]
 }
}
