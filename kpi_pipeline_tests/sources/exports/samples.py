"""Small export files in the platforms' real shapes (column names, encodings, date forms),
written by the tests. Values are invented; the expected results are worked by hand in the
tests that use them."""

from __future__ import annotations

import codecs

META_FACEBOOK = (
    "Post ID,Page ID,Page name,Title,Description,Duration (sec),Publish time,Caption type,"
    "Permalink,Is crosspost,Is share,Post type,Languages,Custom labels,Funded content status,"
    "Data comment,Date,Views,Reach,\"Reactions, Comments and Shares\",Reactions,Comments,"
    "Shares,Total clicks,Link clicks,Other Clicks,Seconds viewed,Average Seconds viewed\n"
    "104920372957382_122158000000000001,104920372957382,Acme Coffee,Spring menu,"
    "\"New: oat latte, <script>alert(1)</script>\",,03/14/2025 09:30,,"
    "https://www.facebook.com/acme/posts/1,No,No,Photos,,,,,Lifetime,\"1,250\",980,47,40,5,2,"
    "31,12,19,,\n"
    "104920372957382_122158000000000002,104920372957382,Acme Coffee,Barista reel,,32,"
    "03/20/2025 18:05,,https://www.facebook.com/reel/2,No,No,Reels,,,,,Lifetime,5400,3100,"
    "260,220,25,15,80,,80,9100,2.9\n"
)

META_INSTAGRAM = (
    "Post ID,Account ID,Account username,Account name,Description,Duration (sec),"
    "Publish time,Permalink,Post type,Data comment,Date,Views,Reach,Likes,Shares,Follows,"
    "Comments,Saves\n"
    "18011111111111111,17841400008460056,acmecoffee,Acme Coffee,Latte art \U0001f3a8,44,"
    "03/15/2025 08:00,https://www.instagram.com/reel/ABC/,IG reel,,Lifetime,12400,9100,610,"
    "88,41,57,230\n"
    "18022222222222222,17841400008460056,acmecoffee,Acme Coffee,Beans,,03/16/2025 12:00,"
    "https://www.instagram.com/p/DEF/,IG carousel,,Lifetime,800,640,40,,0,3,12\n"
)


def meta_daily(title: str, values: list[tuple[str, int]]) -> bytes:
    """Meta's per-metric daily series: UTF-16 LE with BOM, sep= hint, title, CRLF."""
    lines = ["sep=,", f'"{title}"', '"Date","Primary"']
    lines += [f'"{day}T00:00:00","{value}"' for day, value in values]
    return codecs.BOM_UTF16_LE + "\r\n".join(lines).encode("utf-16-le") + b"\r\x00\n\x00"


LINKEDIN_POSTS = (
    "All posts\n"
    "Post title,Post link,Post type,Campaign name,Posted by,Created date,Campaign start date,"
    "Campaign end date,Audience,Impressions,Views (excluding off-site video views),"
    "Off-site views,Clicks,Click through rate (CTR),Likes,Comments,Reposts,Follows,"
    "Engagement rate,Content Type\n"
    "We are hiring,https://www.linkedin.com/feed/update/urn:li:activity:7300000000000000001/,"
    "Organic,,Jane Doe,03/10/2025,,,All followers,2400,,,35,0.0146,48,6,3,2,0.0383,Text\n"
    "Roastery tour,https://www.linkedin.com/feed/update/urn:li:ugcPost:7300000000000000002/,"
    "Organic,,Jane Doe,03/12/2025,,,All followers,5100,1900,12,80,0.0157,120,14,9,5,0.0437,"
    "Video\n"
)
LINKEDIN_METRICS = (
    "Date,Impressions (organic),Impressions (sponsored),Impressions (total),"
    "Unique impressions (organic),Clicks (organic),Clicks (sponsored),Clicks (total),"
    "Reactions (organic),Reactions (sponsored),Reactions (total),Comments (organic),"
    "Comments (sponsored),Comments (total),Reposts (organic),Reposts (sponsored),"
    "Reposts (total),Engagement rate (organic),Engagement rate (sponsored),"
    "Engagement rate (total)\n"
    "03/10/2025,1200,0,1200,800,20,0,20,30,0,30,4,0,4,2,0,2,0.05,0,0.05\n"
    "03/11/2025,900,100,1000,600,10,5,15,12,1,13,1,0,1,0,0,0,0.03,0.07,0.03\n"
)
LINKEDIN_FOLLOWERS = (
    "Date,Sponsored followers,Organic followers,Auto-invited followers,Total followers\n"
    "03/10/2025,0,7,1,8\n"
    "03/11/2025,2,3,0,5\n"
)

TIKTOK_VIDEOS = (
    "Video title,Video link,Post time,Total likes,Total comments,Total shares,Total views,"
    "Total play time,Average watch time,Watched full video,Add to favorites\n"
    "\"Yacht day, white party\",https://www.tiktok.com/@acme/video/7412345678901234567,"
    "2025-03-02 19:05:00,1200,48,31,\"18,400\",52000,2.8,31.5%,40\n"
)
TIKTOK_OVERVIEW = (
    '"Date","Video Views","Profile Views","Likes","Comments","Shares"\n'
    '"December 30","0","0","0","0","0"\n'
    '"December 31","100","10","2","1","3"\n'
    '"January 1","200","20","4","0","1"\n'
)
TIKTOK_FOLLOWERS = (
    "Date,Followers,Difference in followers from previous day\n"
    "December 31,10,0\n"
    "January 1,9,-1\n"
)

GA4_TRAFFIC = (
    "# ----------------------------------------\n"
    "# Traffic acquisition: Session source / medium\n"
    "# Account: Acme\n"
    "# Property: acmecoffee.com\n"
    "# ----------------------------------------\n"
    "#\n"
    "# All Users\n"
    "# Start date: 20250301\n"
    "# End date: 20250302\n"
    "# ----------------------------------------\n"
    "Date,Session source / medium,Session campaign,Sessions,Engaged sessions,Views,"
    "User engagement,Ecommerce purchases,Purchase revenue,Key events (sign_up),"
    "Engagement rate\n"
    "20250301,l.facebook.com / referral,spring,120,80,300,5400,3,89.70,4,0.6667\n"
    "20250301,google / organic,(organic),200,150,500,9000,5,150.00,2,0.75\n"
    "20250302,instagram / paid_social,spring,50,20,90,1200,1,19.90,,0.4\n"
    "Grand total,,,370,250,890,15600,9,259.60,6,\n"
)

MANIFEST = {
    "defaults": {"brand": "acme", "timezone": "America/Los_Angeles", "as_of": "2025-03-31"},
    "files": [
        {"match": "fb_*.csv", "account_id": "104920372957382"},
        {"match": "ig_*.csv", "account_id": "17841400008460056"},
        {"match": "Views.csv", "account_id": "104920372957382", "platform": "facebook"},
        {"match": "Follows.csv", "account_id": "104920372957382"},
        {"match": "linkedin_*.csv", "account_id": "2414183"},
        {"match": "tiktok_*.csv", "account_id": "acmecoffee", "year": 2024},
        {"match": "ga4_*.csv", "account_id": "312345678", "currency": "EUR"},
    ],
}
