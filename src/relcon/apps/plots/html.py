"""The self-contained interactive HTML page: data as JSON, a small SVG viewer, the static PNG."""

# Why a hand-written viewer rather than plotly (issue 21, measured with plotly 7.1.0 on the same
# `relcon plot map` points, colours and hover text, one Scattergl trace per group): an offline
# plotly file (include_plotlyjs=True; "cdn" needs network to open) is 5.16 MB for 5,000 points
# against 0.39 MB here (PNG included), and 8.24 MB for 50,000 points against 3.45 MB. Its 4.8 MB
# of plotly.js also takes about 116 ms only to compile in V8 (node 20) before anything is drawn;
# this viewer's JavaScript is 12.7 kB (0.5 ms). Plotly would be larger and slower to open.

from __future__ import annotations

import base64
import html as html_lib
import json
from pathlib import Path
from typing import Any

from relcon.io import atomic_write_text


def _write_html(path: Path, spec: dict[str, Any], png: bytes) -> Path:
    """One self-contained page: the data (JSON), the SVG viewer and the static PNG."""
    data = json.dumps(spec, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    title = html_lib.escape(str(spec.get("title", "relcon plot")))
    subtitle = html_lib.escape(str(spec.get("subtitle", "")))
    img = base64.b64encode(png).decode("ascii")
    page = _HTML_TEMPLATE.format(
        title=title, subtitle=subtitle, data=data, img=img, css=_CSS, js=_VIEWER_JS,
        help=html_lib.escape(_HELP[spec["kind"]]),
    )  # fmt: skip
    atomic_write_text(path, page)
    return path


_HELP = {
    "series": "Wheel: zoom time - drag: pan - double-click: reset - hover: values.",
    "scatter": "Wheel: zoom - drag: pan - double-click: reset - hover: window - click a legend "
    "entry: hide / show it.",
    "grid": "Hover a panel: values at that time.",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:16px;color:#222;max-width:1400px}
h1{font-size:18px;margin:0 0 4px}
.sub{color:#555;font-size:13px;margin:0 0 4px;white-space:pre-line}
.help{color:#888;font-size:12px;margin:0 0 8px}
svg{font-size:11px;user-select:none;display:block}
svg text{fill:#333}
.plotwrap{display:flex;gap:12px;align-items:flex-start}
.legend{font-size:13px;line-height:1.7;min-width:170px}
.legend div{cursor:pointer;white-space:nowrap}
.legend div.off{opacity:.35}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;
vertical-align:-1px}
.tip{position:absolute;display:none;background:rgba(255,255,255,.96);border:1px solid #bbb;
border-radius:4px;padding:4px 7px;font-size:12px;pointer-events:none;white-space:nowrap;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:10px}
.panel{border:1px solid #ddd;border-radius:4px;padding:4px}
.panel.anchor{border:2px solid #222}
.panel .pt{font-size:13px;margin:0 2px}
.panel .pt.match{color:#1a7f37;font-weight:600}
details{margin-top:18px;font-size:13px;color:#555}
img{max-width:100%}
"""

_HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body>
<h1>{title}</h1>
<p class="sub">{subtitle}</p>
<p class="help">{help}</p>
<div id="relcon-plot"></div>
<details><summary>Static picture (PNG)</summary>
<img alt="{title}" src="data:image/png;base64,{img}"></details>
<script type="application/json" id="relcon-data">{data}</script>
<script>{js}</script>
</body></html>
"""

_VIEWER_JS = r"""
(function(){
"use strict";
const S=JSON.parse(document.getElementById("relcon-data").textContent);
const root=document.getElementById("relcon-plot");
const NS="http://www.w3.org/2000/svg";
function el(tag,at,parent){const e=document.createElementNS(NS,tag);
 for(const k in at)e.setAttribute(k,at[k]);if(parent)parent.appendChild(e);return e;}
function ticks(a,b,n){const sp=b-a;if(!(sp>0))return[a];const raw=sp/n;
 const p=Math.pow(10,Math.floor(Math.log10(raw)));const m=raw/p;
 const st=(m<1.5?1:m<3.5?2:m<7.5?5:10)*p;const out=[];
 for(let v=Math.ceil(a/st)*st;v<=b+st*1e-9;v+=st)out.push(+v.toPrecision(12));return out;}
function fmt(v){if(v===null||v===undefined)return"-";return String(+(+v).toPrecision(4));}
function esc(s){return String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
const tip=document.createElement("div");tip.className="tip";document.body.appendChild(tip);
function showTip(ev,h){tip.innerHTML=h;tip.style.display="block";
 const r=tip.getBoundingClientRect();let x=ev.pageX+14;
 if(x+r.width>window.scrollX+window.innerWidth-8)x=ev.pageX-r.width-14;
 tip.style.left=x+"px";tip.style.top=(ev.pageY+14)+"px";}
function hideTip(){tip.style.display="none";}
function svgPt(svg,ev){const p=svg.createSVGPoint();p.x=ev.clientX;p.y=ev.clientY;
 return p.matrixTransform(svg.getScreenCTM().inverse());}
function lower(a,v){let lo=0,hi=a.length;while(lo<hi){const m=(lo+hi)>>1;
 if(a[m]<v)lo=m+1;else hi=m;}return lo;}
function zoomable(svg,get,set,reset,box,xOnly){
 svg.addEventListener("wheel",ev=>{ev.preventDefault();const p=svgPt(svg,ev);
  const v=get();const f=ev.deltaY<0?1/1.25:1.25;
  const fx=(p.x-box.l)/box.w,fy=(p.y-box.t)/box.h;
  const cx=v[0]+fx*(v[1]-v[0]);const n=[cx-fx*(v[1]-v[0])*f,cx+(1-fx)*(v[1]-v[0])*f,v[2],v[3]];
  if(!xOnly){const cy=v[3]-fy*(v[3]-v[2]);n[2]=cy-(1-fy)*(v[3]-v[2])*f;n[3]=cy+fy*(v[3]-v[2])*f;}
  set(n);},{passive:false});
 let drag=null;
 svg.addEventListener("mousedown",ev=>{drag={p:svgPt(svg,ev),v:get()};ev.preventDefault();});
 window.addEventListener("mousemove",ev=>{if(!drag)return;const p=svgPt(svg,ev);const v=drag.v;
  const dx=(p.x-drag.p.x)/box.w*(v[1]-v[0]);const dy=xOnly?0:(p.y-drag.p.y)/box.h*(v[3]-v[2]);
  set([v[0]-dx,v[1]-dx,v[2]+dy,v[3]+dy]);});
 window.addEventListener("mouseup",()=>{drag=null;});
 svg.addEventListener("dblclick",()=>set(reset()));}
function xAxis(g,box,a,b,scale,label,n,lab){
 for(const v of ticks(a/scale,b/scale,n||8)){const x=box.l+(v*scale-a)/(b-a)*box.w;
  el("line",{x1:x,x2:x,y1:box.t,y2:box.t+box.h,stroke:"#eee"},g);
  const t=el("text",{x:x,y:box.t+box.h+14,"text-anchor":"middle"},g);t.textContent=lab?lab(v):fmt(v);}
 if(label){const t=el("text",{x:box.l+box.w/2,y:box.t+box.h+30,"text-anchor":"middle"},g);
  t.textContent=label;}}
function yAxis(g,box,a,b,label,n){
 for(const v of ticks(a,b,n||4)){const y=box.t+box.h-(v-a)/(b-a)*box.h;
  el("line",{x1:box.l,x2:box.l+box.w,y1:y,y2:y,stroke:"#eee"},g);
  const t=el("text",{x:box.l-4,y:y+4,"text-anchor":"end"},g);t.textContent=fmt(v);}
 if(label){const t=el("text",{x:12,y:box.t+box.h/2,"text-anchor":"middle",
  transform:`rotate(-90 12 ${box.t+box.h/2})`},g);t.textContent=label;}}

function interp(v,xs,ys){if(v<=xs[0])return ys[0]+(v-xs[0]);const n=xs.length;
 if(v>=xs[n-1])return ys[n-1]+(v-xs[n-1]);const i=Math.max(1,lower(xs,v));
 return ys[i-1]+(v-xs[i-1])/((xs[i]-xs[i-1])||1)*(ys[i]-ys[i-1]);}
function series(){
 const trueT=x=>interp(x,S.axis.x,S.axis.t);
 const W=1100,laneH=100,bandH=22,L=S.lanes.length,B=S.bands.length,m={l:62,r:12,t:8,b:40};
 const H=m.t+L*(laneH+14)+B*(bandH+6)+m.b;const span=S.span_s;
 const TS=S.t.map((v,i,a)=>v===null?a[i-1]:v);  // for binary search: gaps hold the previous time
 const svg=el("svg",{viewBox:`0 0 ${W} ${H}`,width:"100%"},root);
 const w=W-m.l-m.r;const defs=el("defs",{},svg);
 const pat=el("pattern",{id:"cut",width:6,height:6,patternUnits:"userSpaceOnUse",patternTransform:"rotate(45)"},defs);
 el("rect",{width:6,height:6,fill:"#fff"},pat);el("line",{x1:0,y1:0,x2:0,y2:6,stroke:"#8c8c8c","stroke-width":1.5},pat);
 const cp=el("clipPath",{id:"clip"},defs);el("rect",{x:m.l,y:0,width:w,height:H},cp);
 const bg=el("g",{},svg);const fg=el("g",{"clip-path":"url(#clip)"},svg);const top=el("g",{},svg);
 let view=[0,span,0,1];
 const cursor=el("line",{y1:m.t,y2:H-m.b,stroke:"#888","stroke-dasharray":"3 3",display:"none"},top);
 const lanes=S.lanes.map((ln,i)=>({ln,box:{l:m.l,t:m.t+i*(laneH+14),w:w,h:laneH}}));
 const bands=S.bands.map((b,i)=>({b,box:{l:m.l,t:m.t+L*(laneH+14)+i*(bandH+6),w:w,h:bandH}}));
 const legend=document.createElement("div");legend.className="legend";
 legend.style.display="flex";legend.style.flexWrap="wrap";legend.style.gap="0 18px";
 for(const c of S.classes){const d=document.createElement("div");
  d.innerHTML=`<span class="sw" style="background:${c.color}"></span>${esc(c.name)}`;legend.appendChild(d);}
 for(const [on,sw,name] of [[S.gaps.length,"background:#eeeeee","gap (no data)"],
  [S.cuts.length,"background:repeating-linear-gradient(45deg,#8c8c8c 0 1.5px,#fff 1.5px 4px)",
   "long gap cut out (length above it)"]]){if(!on)continue;const d=document.createElement("div");
  d.innerHTML=`<span class="sw" style="${sw}"></span>${name}`;legend.appendChild(d);}
 root.appendChild(legend);
 if(S.note){const p=document.createElement("p");p.className="help";p.textContent=S.note;root.appendChild(p);}
 function sx(t){return m.l+(t-view[0])/(view[1]-view[0])*w;}
 function render(){bg.innerHTML="";fg.innerHTML="";const sc=S.time_scale;
  for(const {ln,box} of lanes){yAxis(bg,box,ln.ylim[0],ln.ylim[1],ln.name,3);
   const sy=v=>box.t+box.h-(v-ln.ylim[0])/(ln.ylim[1]-ln.ylim[0])*box.h;
   for(const gp of S.gaps){el("rect",{x:sx(gp[0]),y:box.t,width:Math.max(0,sx(gp[1])-sx(gp[0])),
    height:box.h,fill:"#eee"},fg);}
   const t=S.t;let i0=Math.max(0,lower(TS,view[0])-2),i1=Math.min(t.length,lower(TS,view[1])+2);
   let up=[],dn=[],d="";
   const flush=()=>{if(up.length){d+="M"+up.join("L")+"L"+dn.reverse().join("L")+"Z";}up=[];dn=[];};
   for(let i=i0;i<i1;i++){if(t[i]===null){flush();continue;}
    const x=sx(t[i]).toFixed(1);up.push(x+","+sy(ln.hi[i]).toFixed(1));dn.push(x+","+sy(ln.lo[i]).toFixed(1));}
   flush();el("path",{d:d,fill:ln.color,stroke:ln.color,"stroke-width":0.6},fg);}
  for(const {b,box} of bands){const t=el("text",{x:m.l-4,y:box.t+box.h/2+4,"text-anchor":"end"},bg);
   t.textContent=b.name;
   for(const r of b.runs){if(r[1]<view[0]||r[0]>view[1])continue;
    el("rect",{x:sx(r[0]),y:box.t,width:Math.max(0.5,sx(r[1])-sx(r[0])),height:box.h,
     fill:S.classes[r[2]].color},fg);}}
  const last=bands.length?bands[bands.length-1].box:lanes[lanes.length-1].box;
  for(const c of S.cuts){const x0=sx(c[0]),x1=sx(c[1]);if(x1<m.l||x0>m.l+w)continue;
   el("rect",{x:x0,y:m.t,width:Math.max(1,x1-x0),height:last.t+last.h-m.t,fill:"url(#cut)"},fg);
   const t=el("text",{x:(x0+x1)/2,y:m.t+10,"text-anchor":"middle"},fg);t.textContent=c[2];}
  xAxis(bg,{l:m.l,t:m.t,w:w,h:last.t+last.h-m.t},view[0],view[1],sc,`time since start (${S.time_unit})`,8,
   v=>fmt(trueT(v*sc)/sc));}
 render();
 zoomable(svg,()=>view,v=>{const wd=Math.max(v[1]-v[0],0.05);let a=v[0],b=a+wd;
  if(wd>=span){a=0;b=span;}else{if(a<0){a=0;b=wd;}if(b>span){b=span;a=span-wd;}}
  view=[a,b,0,1];render();},()=>[0,span,0,1],{l:m.l,t:m.t,w:w,h:H-m.t-m.b},true);
 svg.addEventListener("mousemove",ev=>{const p=svgPt(svg,ev);
  if(p.x<m.l||p.x>m.l+w){cursor.setAttribute("display","none");hideTip();return;}
  const t=view[0]+(p.x-m.l)/w*(view[1]-view[0]);
  cursor.setAttribute("x1",p.x);cursor.setAttribute("x2",p.x);cursor.setAttribute("display","");
  let h=`<b>${fmt(trueT(t)/S.time_scale)} ${esc(S.time_unit)}</b>`;
  let i=Math.min(lower(TS,t),TS.length-1);
  if(i>0&&(S.t[i]===null||Math.abs(TS[i-1]-t)<Math.abs(TS[i]-t)))i-=1;
  if(S.t[i]===null)i=Math.max(0,i-1);
  for(const {ln} of lanes){
   h+=`<br><span class="sw" style="background:${ln.color}"></span>${esc(ln.name)}: ${fmt(ln.lo[i])} .. ${fmt(ln.hi[i])}`;}
  for(const {b} of bands){const r=b.runs.find(r=>r[0]<=t&&t<r[1]);
   h+=`<br>${esc(b.name)}: ${r?esc(S.classes[r[2]].name):"-"}`;}
  showTip(ev,h);});
 svg.addEventListener("mouseleave",()=>{cursor.setAttribute("display","none");hideTip();});}

function scatter(){
 const W=820,H=640,m={l:60,r:10,t:10,b:46};const box={l:m.l,t:m.t,w:W-m.l-m.r,h:H-m.t-m.b};
 const wrap=document.createElement("div");wrap.className="plotwrap";root.appendChild(wrap);
 const holder=document.createElement("div");holder.style.flex="1";wrap.appendChild(holder);
 const svg=el("svg",{viewBox:`0 0 ${W} ${H}`,width:"100%"},holder);
 const defs=el("defs",{},svg);const cp=el("clipPath",{id:"clip"},defs);
 el("rect",{x:box.l,y:box.t,width:box.w,height:box.h},cp);
 const ax=el("g",{},svg);const pts=el("g",{"clip-path":"url(#clip)"},svg);
 const P=S.points,n=P.x.length;
 const mn=a=>a.reduce((u,v)=>Math.min(u,v),Infinity),mx=a=>a.reduce((u,v)=>Math.max(u,v),-Infinity);
 let x0=mn(P.x),x1=mx(P.x),y0=mn(P.y),y1=mx(P.y);const px=(x1-x0)*0.04||1,py=(y1-y0)*0.04||1;
 const full=[x0-px,x1+px,y0-py,y1+py];let view=full.slice();const hidden=new Set();
 const r=n>3000?2.2:n>800?3:4;const circles=[];
 for(let i=0;i<n;i++){circles.push(el("circle",{r:r,fill:S.groups[P.g[i]].color,"fill-opacity":0.8,"data-i":i},pts));}
 function render(){ax.innerHTML="";
  xAxis(ax,box,view[0],view[1],1,S.xlabel);yAxis(ax,box,view[2],view[3],S.ylabel,6);
  el("rect",{x:box.l,y:box.t,width:box.w,height:box.h,fill:"none",stroke:"#ccc"},ax);
  for(let i=0;i<n;i++){const c=circles[i];
   c.setAttribute("cx",(box.l+(P.x[i]-view[0])/(view[1]-view[0])*box.w).toFixed(1));
   c.setAttribute("cy",(box.t+box.h-(P.y[i]-view[2])/(view[3]-view[2])*box.h).toFixed(1));
   c.setAttribute("display",hidden.has(P.g[i])?"none":"");}}
 render();
 zoomable(svg,()=>view,v=>{view=v;render();},()=>full.slice(),box,false);
 pts.addEventListener("mouseover",ev=>{const i=ev.target.getAttribute("data-i");if(i===null)return;
  const g=S.groups[P.g[+i]];ev.target.setAttribute("r",r*2);
  showTip(ev,`<span class="sw" style="background:${g.color}"></span><b>${esc(g.name)}</b><br>${esc(P.tip[+i])}`);});
 pts.addEventListener("mouseout",ev=>{if(ev.target.tagName==="circle")ev.target.setAttribute("r",r);hideTip();});
 const lg=document.createElement("div");lg.className="legend";
 lg.innerHTML=`<b>${esc(S.legend_title)}</b>`;wrap.appendChild(lg);
 S.groups.forEach((g,k)=>{const d=document.createElement("div");
  d.innerHTML=`<span class="sw" style="background:${g.color}"></span>${esc(g.name)} (${g.count})`;
  d.addEventListener("click",()=>{if(hidden.has(k))hidden.delete(k);else hidden.add(k);
   d.classList.toggle("off");render();});lg.appendChild(d);});}

function grid(){
 const lg=document.createElement("div");lg.className="legend";lg.style.display="flex";lg.style.gap="0 18px";
 for(const a of S.legend){const d=document.createElement("div");
  d.innerHTML=`<span class="sw" style="background:${a.color}"></span>${esc(a.name)}`;lg.appendChild(d);}
 const u=document.createElement("div");u.textContent=S.units;lg.appendChild(u);root.appendChild(lg);
 const g=document.createElement("div");g.className="grid";root.appendChild(g);
 const W=250,H=130,m={l:34,r:4,t:4,b:20};const box={l:m.l,t:m.t,w:W-m.l-m.r,h:H-m.t-m.b};
 const t=S.t,T=t[t.length-1],yl=S.ylim;
 for(const p of S.panels){const d=document.createElement("div");d.className="panel"+(p.anchor?" anchor":"");
  const ti=document.createElement("div");ti.className="pt"+(p.match?" match":"");ti.textContent=p.title;
  d.appendChild(ti);g.appendChild(d);
  const svg=el("svg",{viewBox:`0 0 ${W} ${H}`,width:"100%"},d);
  xAxis(svg,box,0,T,1,"",4);yAxis(svg,box,yl[0],yl[1],"",3);
  const sx=v=>box.l+v/T*box.w,sy=v=>box.t+box.h-(v-yl[0])/(yl[1]-yl[0])*box.h;
  for(const ln of p.lines){el("polyline",{points:ln.y.map((v,i)=>sx(t[i]).toFixed(1)+","+sy(v).toFixed(1)).join(" "),
   fill:"none",stroke:ln.color,"stroke-width":1},svg);}
  const cur=el("line",{y1:box.t,y2:box.t+box.h,stroke:"#888","stroke-dasharray":"3 3",display:"none"},svg);
  svg.addEventListener("mousemove",ev=>{const q=svgPt(svg,ev);
   const i=Math.max(0,Math.min(t.length-1,Math.round((q.x-box.l)/box.w*(t.length-1))));
   cur.setAttribute("x1",sx(t[i]));cur.setAttribute("x2",sx(t[i]));cur.setAttribute("display","");
   let h=`<b>${esc(p.title)}</b><br>t = ${fmt(t[i])} s`;
   for(const ln of p.lines)h+=`<br><span class="sw" style="background:${ln.color}"></span>${esc(ln.name)}: ${fmt(ln.y[i])} g`;
   showTip(ev,h);});
  svg.addEventListener("mouseleave",()=>{cur.setAttribute("display","none");hideTip();});}}

({series:series,scatter:scatter,grid:grid})[S.kind]();
})();
"""
